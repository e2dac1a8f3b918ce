/**
 * A strict reader of the Prometheus text format, version 0.0.4: what a
 * Prometheus server would refuse, it throws on. Small on purpose — it checks
 * the output of the OpenTelemetry serializer, it is not one.
 */

/** One line of data: a series and its value. */
export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

/** A `# TYPE` (and its `# HELP`) with the samples that belong to it. */
export interface Family {
  readonly name: string
  readonly type: "counter" | "gauge" | "histogram" | "summary" | "untyped"
  readonly help: string | undefined
  readonly samples: Array<Sample>
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const types = new Set(["counter", "gauge", "histogram", "summary", "untyped"])

const parseValue = (text: string, line: number): number => {
  if (text === "+Inf") return Infinity
  if (text === "-Inf") return -Infinity
  if (text === "NaN") return NaN
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`line ${line}: bad value "${text}"`)
  return Number(text)
}

/** `{a="x",b="y\"z"}` from `start` (the `{`); returns the labels and the index after `}`. */
const parseLabels = (text: string, start: number, line: number): [Record<string, string>, number] => {
  const labels: Record<string, string> = {}
  let i = start + 1
  while (text[i] !== "}") {
    const eq = text.indexOf("=", i)
    if (eq < 0) throw new Error(`line ${line}: label without "="`)
    const name = text.slice(i, eq)
    if (!labelName.test(name)) throw new Error(`line ${line}: bad label name "${name}"`)
    if (name in labels) throw new Error(`line ${line}: label "${name}" twice`)
    if (text[eq + 1] !== "\"") throw new Error(`line ${line}: label value not quoted`)
    let value = ""
    let j = eq + 2
    for (;; j++) {
      const c = text[j]
      if (c === undefined) throw new Error(`line ${line}: unterminated label value`)
      if (c === "\"") break
      if (c === "\\") {
        const next = text[++j]
        if (next === "n") value += "\n"
        else if (next === "\\" || next === "\"") value += next
        else throw new Error(`line ${line}: bad escape "\\${next}"`)
      } else value += c
    }
    labels[name] = value
    i = j + 1
    if (text[i] === ",") i++
    else if (text[i] !== "}") throw new Error(`line ${line}: expected "," or "}" after a label`)
  }
  return [labels, i + 1]
}

const familyOf = (families: Map<string, Family>, name: string): Family | undefined => {
  const exact = families.get(name)
  if (exact !== undefined) return exact
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (name.endsWith(suffix)) {
      const family = families.get(name.slice(0, -suffix.length))
      if (family !== undefined && (family.type === "histogram" || family.type === "summary")) return family
    }
  }
  return undefined
}

const seriesKey = (sample: Sample) =>
  `${sample.name}{${Object.entries(sample.labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`)}}`

/** Checks the histogram invariants: cumulative buckets ending in `+Inf`, equal to `_count`. */
const checkHistogram = (family: Family) => {
  const groups = new Map<string, { buckets: Array<[number, number]>; count?: number }>()
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels
    const key = JSON.stringify(Object.entries(rest).sort(([a], [b]) => a.localeCompare(b)))
    const group = groups.get(key) ?? { buckets: [] }
    groups.set(key, group)
    if (sample.name === `${family.name}_bucket`) {
      if (le === undefined) throw new Error(`${sample.name}: a bucket without "le"`)
      group.buckets.push([parseValue(le, 0), sample.value])
    } else if (sample.name === `${family.name}_count`) group.count = sample.value
  }
  for (const [key, { buckets, count }] of groups) {
    const last = buckets[buckets.length - 1]
    if (last === undefined || last[0] !== Infinity) throw new Error(`${family.name} ${key}: no le="+Inf" bucket`)
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i]![0] > buckets[i - 1]![0]) || buckets[i]![1] < buckets[i - 1]![1]) {
        throw new Error(`${family.name} ${key}: buckets not increasing`)
      }
    }
    if (count !== last[1]) throw new Error(`${family.name} ${key}: _count ${count} != +Inf bucket ${last[1]}`)
  }
}

/** Parses a scrape; throws with the line number on anything Prometheus would refuse. */
export const parse = (text: string): Map<string, Family> => {
  const families = new Map<string, Family>()
  const seen = new Set<string>()
  const helps = new Map<string, string>()
  const lines = text.split("\n")
  if (lines[lines.length - 1] !== "") throw new Error("the scrape does not end with a newline")
  lines.forEach((raw, index) => {
    const line = index + 1
    if (raw.trim() === "") return
    if (raw.startsWith("#")) {
      const [, keyword, name, ...rest] = raw.split(" ")
      if (keyword === "HELP") {
        if (name === undefined || !metricName.test(name)) throw new Error(`line ${line}: bad HELP`)
        if (helps.has(name)) throw new Error(`line ${line}: second HELP for ${name}`)
        helps.set(name, rest.join(" "))
      } else if (keyword === "TYPE") {
        const type = rest[0]
        if (name === undefined || !metricName.test(name) || type === undefined || !types.has(type) || rest.length > 1) {
          throw new Error(`line ${line}: bad TYPE "${raw}"`)
        }
        if (families.has(name)) throw new Error(`line ${line}: second TYPE for ${name}`)
        if ([...seen].some((key) => key.startsWith(`${name}{`) || key.startsWith(`${name}_`))) {
          throw new Error(`line ${line}: TYPE for ${name} after its samples`)
        }
        families.set(name, { name, type: type as Family["type"], help: helps.get(name), samples: [] })
      }
      // any other comment (OpenMetrics' `# UNIT`, say) is ignored by a 0.0.4 reader
      return
    }
    const brace = raw.indexOf("{")
    const space = raw.indexOf(" ")
    const nameEnd = brace >= 0 && brace < space ? brace : space
    if (nameEnd < 0) throw new Error(`line ${line}: no value`)
    const name = raw.slice(0, nameEnd)
    if (!metricName.test(name)) throw new Error(`line ${line}: bad metric name "${name}"`)
    let labels: Record<string, string> = {}
    let rest = nameEnd
    if (raw[nameEnd] === "{") [labels, rest] = parseLabels(raw, nameEnd, line)
    const fields = raw.slice(rest).trim().split(/\s+/)
    if (raw[rest] !== " " || fields.length < 1 || fields.length > 2) {
      throw new Error(`line ${line}: bad sample "${raw}"`)
    }
    if (fields[1] !== undefined && !/^-?\d+$/.test(fields[1])) throw new Error(`line ${line}: bad timestamp`)
    const sample: Sample = { name, labels, value: parseValue(fields[0]!, line) }
    const key = seriesKey(sample)
    if (seen.has(key)) throw new Error(`line ${line}: series ${key} twice`)
    seen.add(key)
    const family = familyOf(families, name)
    if (family === undefined) {
      families.set(name, { name, type: "untyped", help: helps.get(name), samples: [sample] })
    } else family.samples.push(sample)
  })
  for (const family of families.values()) {
    if (family.type === "histogram") checkHistogram(family)
    if (family.type === "counter" && family.samples.some((s) => s.value < 0 || Number.isNaN(s.value))) {
      throw new Error(`${family.name}: a counter below zero`)
    }
  }
  return families
}

/** The samples of `name` whose labels include `labels`. */
export const find = (
  families: Map<string, Family>,
  name: string,
  labels: Readonly<Record<string, string>> = {}
): Array<Sample> =>
  [...families.values()].flatMap((family) => family.samples).filter((sample) =>
    sample.name === name && Object.entries(labels).every(([k, v]) => sample.labels[k] === v)
  )
