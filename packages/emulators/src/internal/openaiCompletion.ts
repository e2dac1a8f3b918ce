/**
 * The OpenAI emulator's answers as data: the `chat.completion` object and the
 * `chat.completion.chunk` events of a stream, built from the synthetic choices.
 */
import * as Text from "./openaiText.js"

/** What every answer and chunk of one completion share. */
export interface Head {
  readonly id: string
  readonly created: number
  readonly model: string
  readonly service_tier: string
  readonly system_fingerprint: string
}

/** `usage`, with the detail objects OpenAI sends (all zero here). */
export const usage = (prompt: number, completion: number) => ({
  prompt_tokens: prompt,
  completion_tokens: completion,
  total_tokens: prompt + completion,
  prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
  completion_tokens_details: {
    reasoning_tokens: 0,
    audio_tokens: 0,
    accepted_prediction_tokens: 0,
    rejected_prediction_tokens: 0
  }
})

/** The non-streaming answer. */
export const body = (head: Head, choices: ReadonlyArray<Text.Choice>, usageOf: unknown) => ({
  ...head,
  object: "chat.completion",
  choices: choices.map((c, index) => ({
    index,
    message: {
      role: "assistant",
      content: c.toolCall === undefined ? c.pieces.join("") : null,
      refusal: null,
      annotations: [],
      ...(c.toolCall === undefined ? {} : {
        tool_calls: [{
          id: c.toolCall.id,
          type: "function",
          function: { name: c.toolCall.name, arguments: c.toolCall.arguments }
        }]
      })
    },
    logprobs: null,
    finish_reason: c.finishReason
  })),
  usage: usageOf
})

/**
 * The chunks of a stream, in order, before `[DONE]`: per choice a role chunk,
 * a chunk per token (or per 8-character fragment of tool-call arguments) and
 * a finish chunk; with `includeUsage` every chunk has `usage: null` and one
 * last chunk with `choices: []` carries the usage.
 */
export const chunks = (
  head: Head,
  choices: ReadonlyArray<Text.Choice>,
  usageOf: unknown,
  includeUsage: boolean
): Array<unknown> => {
  const chunk = (choicesOfChunk: ReadonlyArray<unknown>, usageOfChunk: unknown = null) => ({
    ...head,
    object: "chat.completion.chunk",
    choices: choicesOfChunk,
    ...(includeUsage ? { usage: usageOfChunk } : {})
  })
  const delta = (index: number, d: Record<string, unknown>, finish: string | null = null) =>
    chunk([{ index, delta: d, logprobs: null, finish_reason: finish }])
  const events: Array<unknown> = []
  for (const [index, c] of choices.entries()) {
    if (c.toolCall !== undefined) {
      events.push(delta(index, {
        role: "assistant",
        content: null,
        tool_calls: [{
          index: 0,
          id: c.toolCall.id,
          type: "function",
          function: { name: c.toolCall.name, arguments: "" }
        }],
        refusal: null
      }))
      for (const fragment of Text.fragments(c.toolCall.arguments, 8)) {
        events.push(delta(index, { tool_calls: [{ index: 0, function: { arguments: fragment } }] }))
      }
    } else {
      events.push(delta(index, { role: "assistant", content: "", refusal: null }))
      for (const piece of c.pieces) events.push(delta(index, { content: piece }))
    }
    events.push(delta(index, {}, c.finishReason))
  }
  if (includeUsage) events.push(chunk([], usageOf))
  return events
}
