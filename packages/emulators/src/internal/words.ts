/**
 * The vocabulary of the synthetic replies. The LLM emulators share it but for
 * one word each; that word keeps its place so a seed and a request draw the
 * same reply shape in both.
 */

const before = [
  "the",
  "model",
  "answers",
  "with",
  "a",
  "short",
  "reply",
  "about",
  "your",
  "question",
  "and",
  "then",
  "it",
  "explains",
  "why",
  "this",
  "works",
  "in",
  "practice",
  "because",
  "each",
  "step",
  "is",
  "small",
  "code",
  "function",
  "returns",
  "value",
  "when",
  "input",
  "changes",
  "so",
  "we",
  "check",
  "result",
  "again",
  "retry",
  "later",
  "queue"
]

const after = [
  "token",
  "stream",
  "server",
  "client",
  "request",
  "response",
  "time",
  "data"
]

/** The shared words with `own` in the service's own place. */
export const vocabulary = (own: string): ReadonlyArray<string> => [...before, own, ...after]
