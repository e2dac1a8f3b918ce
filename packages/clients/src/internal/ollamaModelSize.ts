/**
 * The model-size rule of the request timeout: seed 002 asks for 180 s for
 * small models (7B), 300 s for medium ones (13-34B) and 600 s for 70B and
 * more. The size is read from the model's name, as Ollama's library names
 * its tags: `qwen2.5-coder:7b`, `codellama:70b`, `mixtral:8x7b` (56B),
 * `smollm:135m`, `deepseek-r1:1.5b`.
 */

/** A name token such as `7b`, `1.5b`, `135m` or `8x7b`. */
const sizeToken = /^(?:(\d+)x)?(\d+(?:\.\d+)?)([bm])$/i

/**
 * The parameter count in billions the name states, or `undefined` when it
 * states none (`llama3.2`, `mistral:latest`). The first size token of the
 * name wins, tokens being split on `:`, `-`, `_` and `/`.
 */
export const parameterBillions = (model: string): number | undefined => {
  for (const token of model.split(/[:\-_/]/)) {
    const match = sizeToken.exec(token)
    if (match === null) continue
    const experts = match[1] === undefined ? 1 : Number(match[1])
    const count = Number(match[2]) * experts
    return match[3]!.toLowerCase() === "m" ? count / 1000 : count
  }
  return undefined
}

/** The size classes of the rule, from seed 002's "Adjust Timeout Based on Model Size". */
export type SizeClass = "small" | "medium" | "large" | "unknown"

/** Below 13B is small, from 70B large, in between (and 13B itself) medium. */
export const sizeClass = (model: string): SizeClass => {
  const billions = parameterBillions(model)
  if (billions === undefined) return "unknown"
  return billions < 13 ? "small" : billions >= 70 ? "large" : "medium"
}
