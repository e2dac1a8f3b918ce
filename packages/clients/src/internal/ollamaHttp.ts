/** Ollama's error text: the `error` of its JSON body, or the start of the body when it is not JSON. */
import * as Decode from "./decode.js"

export const ollamaError = (excerpt: string): string => {
  try {
    const parsed = JSON.parse(excerpt) as unknown
    if (typeof parsed === "object" && parsed !== null && typeof (parsed as { error?: unknown }).error === "string") {
      return (parsed as { error: string }).error
    }
  } catch {
    // not Ollama's JSON: keep the text
  }
  return Decode.excerpt(excerpt)
}
