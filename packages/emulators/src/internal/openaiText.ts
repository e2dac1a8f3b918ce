/**
 * The OpenAI emulator's synthetic outputs and token arithmetic: replies and
 * tool calls that are a function of the seed and the request, the prompt's
 * token estimate, and what a request is charged against the token budget.
 */
import type * as OpenAiWire from "./openaiWire.js"
import * as Seeded from "./seeded.js"
import * as Words from "./words.js"

const words = Words.vocabulary("limit")

/** One token per four characters, rounded up: the estimate every count here uses. */
export const textTokens = (text: string): number => Math.ceil(text.length / 4)

const contentText = (content: OpenAiWire.Message["content"]): string =>
  content === undefined
    ? ""
    : typeof content === "string"
    ? content
    : content.map((part) => part.text ?? JSON.stringify(part)).join("")

/**
 * The prompt's tokens: per message 3 tokens of framing plus its content (and
 * 1 for a name), 3 tokens priming the reply, plus the tool definitions, each
 * text counted as characters / 4 rounded up. Close to what tiktoken counts
 * for English, and stable, which is what a test needs.
 */
export const promptTokens = (request: OpenAiWire.ChatRequest): number => {
  let total = 3
  for (const message of request.messages) {
    total += 3 + textTokens(contentText(message.content))
    if (message.name !== undefined) total += 1
    if (message.tool_calls !== undefined) total += textTokens(JSON.stringify(message.tool_calls))
  }
  if (request.tools !== undefined) total += textTokens(JSON.stringify(request.tools))
  return total
}

/** The requested cap of generated tokens per choice, if any (`max_completion_tokens` wins over `max_tokens`). */
export const maxTokens = (request: OpenAiWire.ChatRequest): number | undefined =>
  request.max_completion_tokens ?? request.max_tokens

/** A tool call of a reply. */
export interface ToolCall {
  readonly id: string
  readonly name: string
  /** A JSON object as text, as OpenAI sends it. */
  readonly arguments: string
}

/** One choice: text pieces (a token each) or a tool call. */
export interface Choice {
  readonly pieces: ReadonlyArray<string>
  readonly toolCall: ToolCall | undefined
  readonly finishReason: "stop" | "length" | "tool_calls"
  readonly completionTokens: number
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/** `length` characters of [A-Za-z0-9] from the generator. */
export const opaque = (uniform: () => number, length: number): string =>
  Array.from({ length }, () => alphabet[Math.floor(uniform() * alphabet.length)]!).join("")

/** A value for a JSON schema, from the generator: enough for a client to parse and dispatch. */
const valueFor = (schema: unknown, uniform: () => number, depth: number): unknown => {
  const s = (typeof schema === "object" && schema !== null ? schema : {}) as Record<string, unknown>
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[Math.floor(uniform() * s.enum.length)]
  switch (s.type) {
    case "integer":
      return Math.floor(uniform() * 100)
    case "number":
      return Math.round(uniform() * 1000) / 10
    case "boolean":
      return uniform() < 0.5
    case "array":
      return depth > 3 ? [] : [valueFor(s.items, uniform, depth + 1)]
    case "object": {
      const properties = (typeof s.properties === "object" && s.properties !== null ? s.properties : {}) as Record<
        string,
        unknown
      >
      return depth > 3 ? {} : Object.fromEntries(
        Object.entries(properties).map(([key, value]) => [key, valueFor(value, uniform, depth + 1)])
      )
    }
    default:
      return words[Math.floor(uniform() * words.length)]
  }
}

/**
 * Which tool the reply calls, if any: the named one, the first with
 * `required`, and with `auto` (the default when tools are given) the first
 * unless the conversation ends with a tool's result, so that a client's
 * "call the tool, send its result, read the answer" loop ends.
 */
export const toolToCall = (request: OpenAiWire.ChatRequest): OpenAiWire.Tool | undefined => {
  const tools = request.tools ?? []
  if (tools.length === 0) return undefined
  const choice = request.tool_choice ?? "auto"
  if (choice === "none") return undefined
  if (typeof choice === "object") return tools.find((tool) => tool.function.name === choice.function.name)
  if (choice === "required") return tools[0]
  const last = request.messages[request.messages.length - 1]
  return last?.role === "tool" ? undefined : tools[0]
}

/**
 * Choice `index` of the reply to `request`: the same seed and request give
 * the same words. 8 to 32 tokens, cut at `maxTokens` (`finish_reason`
 * `length`) or before the first stop sequence (`stop`).
 */
export const choice = (seed: number, request: OpenAiWire.ChatRequest, index: number): Choice => {
  const uniform = Seeded.forRequest(seed, {
    model: request.model,
    messages: request.messages,
    seed: request.seed,
    tools: request.tools,
    index
  })
  const cap = maxTokens(request)
  const tool = toolToCall(request)
  if (tool !== undefined) {
    const args = JSON.stringify(valueFor(tool.function.parameters ?? { type: "object" }, uniform, 0))
    const completionTokens = textTokens(args) + 7
    return {
      pieces: [],
      toolCall: { id: `call_${opaque(uniform, 24)}`, name: tool.function.name, arguments: args },
      finishReason: "tool_calls",
      completionTokens
    }
  }
  const natural = 8 + Math.floor(uniform() * 25)
  let pieces = Array.from({ length: natural }, (_, i) => {
    const word = words[Math.floor(uniform() * words.length)]!
    const text = i === 0 ? word.charAt(0).toUpperCase() + word.slice(1) : ` ${word}`
    return i === natural - 1 ? `${text}.` : text
  })
  let finishReason: Choice["finishReason"] = "stop"
  const stops = request.stop === undefined ? [] : typeof request.stop === "string" ? [request.stop] : request.stop
  const text = pieces.join("")
  const stopAt = Math.min(
    ...stops.filter((stop) => stop !== "").map((stop) => text.indexOf(stop)).filter((at) => at >= 0)
  )
  if (Number.isFinite(stopAt)) {
    let length = 0
    const kept: Array<string> = []
    for (const piece of pieces) {
      if (length + piece.length > stopAt) {
        if (stopAt > length) kept.push(piece.slice(0, stopAt - length))
        break
      }
      kept.push(piece)
      length += piece.length
    }
    pieces = kept
  }
  if (cap !== undefined && cap < pieces.length) {
    pieces = pieces.slice(0, cap)
    finishReason = "length"
  }
  return { pieces, toolCall: undefined, finishReason, completionTokens: pieces.length }
}

/**
 * What a request is charged against the token budget before it runs: the
 * prompt estimate plus, per choice, the requested cap of generated tokens,
 * or the reply's own length when none is given.
 */
export const charge = (request: OpenAiWire.ChatRequest, prompt: number, choices: ReadonlyArray<Choice>): number => {
  const cap = maxTokens(request)
  return prompt + choices.reduce((sum, c) => sum + (cap ?? c.completionTokens), 0)
}

/** Pieces of at most `size` characters: how a tool call's arguments stream. */
export const fragments = (text: string, size: number): Array<string> =>
  Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size))
