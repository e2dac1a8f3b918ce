/**
 * The Ollama emulator's models: the catalog `/api/tags` lists, name
 * normalisation (`llama3.2` is `llama3.2:latest`), `keep_alive` parsing, and
 * which models are loaded until when (`/api/ps`).
 */
import * as OllamaText from "./ollamaText.js"

export interface ModelSpec {
  /** `name[:tag]`; the tag defaults to `latest`. */
  readonly name: string
  /** Bytes on disk (and in VRAM once loaded). */
  readonly size?: number | undefined
  readonly family?: string | undefined
  readonly parameterSize?: string | undefined
  readonly quantizationLevel?: string | undefined
}

export interface Model {
  readonly name: string
  readonly size: number
  readonly digest: string
  readonly details: {
    readonly parent_model: string
    readonly format: string
    readonly family: string
    readonly families: ReadonlyArray<string>
    readonly parameter_size: string
    readonly quantization_level: string
  }
}

export const defaultModels: ReadonlyArray<ModelSpec> = [
  { name: "llama3.2:3b", size: 2_019_393_189, family: "llama", parameterSize: "3.2B" },
  { name: "qwen2.5-coder:7b", size: 4_683_087_332, family: "qwen2", parameterSize: "7.6B" }
]

/** `name[:tag]` with the tag defaulted to `latest`, lower-cased as Ollama compares names. */
export const normalize = (name: string): string => {
  const trimmed = name.trim().toLowerCase()
  const slash = trimmed.lastIndexOf("/")
  return trimmed.indexOf(":", slash + 1) === -1 ? `${trimmed}:latest` : trimmed
}

const validName = /^[a-z0-9][a-z0-9._\-/]*(:[a-z0-9][a-z0-9._-]*)?$/i

/** The model of a spec, or what is wrong with the spec. */
export const fromSpec = (spec: ModelSpec | string): Model | string => {
  const { family = "llama", name, parameterSize = "7B", quantizationLevel = "Q4_K_M", size = 4_000_000_000 } =
    typeof spec === "string" ? { name: spec } : spec
  if (typeof name !== "string" || !validName.test(name)) {
    return `${JSON.stringify(name)} is not a model name like llama3.2:3b`
  }
  if (!Number.isSafeInteger(size) || size <= 0) {
    return `size of ${name} must be a positive integer of bytes, got ${size}`
  }
  const normalized = normalize(name)
  return {
    name: normalized,
    size,
    digest: OllamaText.digest(normalized),
    details: {
      parent_model: "",
      format: "gguf",
      family,
      families: [family],
      parameter_size: parameterSize,
      quantization_level: quantizationLevel
    }
  }
}

const goUnits: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/**
 * `keep_alive` as Ollama reads it, in milliseconds: a number is seconds, a
 * string a Go duration (`"5m"`, `"1h30m"`, `"-1"`); negative means forever
 * (`Infinity`). A string it cannot read is what is wrong with it.
 */
export const keepAliveMillis = (value: unknown): number | string => {
  if (typeof value === "number") {
    return Number.isFinite(value)
      ? (value < 0 ? Infinity : value * 1000)
      : "json: cannot unmarshal number into Go value of type api.Duration"
  }
  if (typeof value !== "string") return `json: cannot unmarshal ${typeof value} into Go value of type api.Duration`
  const text = value.trim()
  const plain = Number(text)
  if (text !== "" && Number.isFinite(plain)) return plain < 0 ? Infinity : plain * 1000
  const match = /^([-+]?)((?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)$/.exec(text)
  if (match === null) return `time: invalid duration ${JSON.stringify(value)}`
  let millis = 0
  for (const [, amount, unit] of match[2]!.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
    millis += Number(amount) * goUnits[unit!]!
  }
  return match[1] === "-" ? Infinity : millis
}

/** Where Go's `time.Time` for "forever" lands when Ollama adds a maximal duration: far enough. */
const foreverMillis = Date.UTC(2318, 0, 1)

/** Models in memory: name → until when (ms since epoch); a model being used never expires. */
export interface Residency {
  readonly isLoaded: (name: string, now: number) => boolean
  /** A request starts on the model: it is loaded and will not expire while requests run. */
  readonly begin: (name: string) => void
  /** A request ends: the keep-alive timer starts now (0 unloads the model). */
  readonly end: (name: string, now: number, keepAlive: number) => void
  readonly loaded: (now: number) => ReadonlyArray<{ readonly name: string; readonly expiresAt: number }>
}

export const residency = (): Residency => {
  const until = new Map<string, number>()
  const active = new Map<string, number>()
  return {
    isLoaded: (name, now) => (active.get(name) ?? 0) > 0 || (until.get(name) ?? -Infinity) > now,
    begin: (name) => {
      active.set(name, (active.get(name) ?? 0) + 1)
    },
    end: (name, now, keepAlive) => {
      const left = (active.get(name) ?? 1) - 1
      active.set(name, left)
      if (left === 0) until.set(name, keepAlive === Infinity ? foreverMillis : now + keepAlive)
    },
    loaded: (now) =>
      [...new Set([...until.keys(), ...active.keys()])]
        .filter((name) => (active.get(name) ?? 0) > 0 || (until.get(name) ?? -Infinity) > now)
        .map((name) => ({
          name,
          // while a request runs, Ollama shows the expiry the running request will set; now + 5m is close enough
          expiresAt: (active.get(name) ?? 0) > 0 ? Math.max(until.get(name) ?? 0, now + 300_000) : until.get(name)!
        }))
        .sort((a, b) => b.expiresAt - a.expiresAt)
  }
}
