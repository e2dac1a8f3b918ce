/**
 * The measuring harness. Every peer of a benchmark runs in the same process and
 * the same run, interleaved: one sample of each peer per round, the order rotated
 * every round, so drift (thermal, GC pressure, a noisy neighbour) lands on every
 * peer alike. A sample times a batch of N calls, N calibrated so that one sample
 * takes about `targetSampleMillis`. What is reported is the median of the
 * per-sample ns/call and its ratio to the bare call of the peer's own group;
 * an absolute time is never the headline.
 *
 * The clock is injectable, so the whole pipeline is testable without timing.
 */
import type { Machine } from "./Machine.js"

/**
 * One contender. `run(n)` makes n calls and resolves when they are done.
 * A group compares like with like (Effect code, promise code); its one `bare`
 * peer is the baseline its ratios are taken against.
 */
export interface Peer {
  readonly name: string
  readonly group?: string | undefined
  readonly bare?: boolean | undefined
  /**
   * The bare peer this peer's ratio is taken against, when not its group's own:
   * a group of like outcomes (a refused call) can then mix Effect and promise
   * peers, each against the bare call of its kind. A group whose peers all name
   * a baseline needs no bare peer. A bare peer may name the bare peer of another
   * group: it stays its own group's baseline, and its own ratio is taken
   * against the one it names (an Effect call against the promise call it wraps).
   */
  readonly baseline?: string | undefined
  readonly run: (iterations: number) => Promise<void>
}

/** "The subject's ratio to its own bare is no worse than the reference's ratio to its own bare." */
export interface VerdictSpec {
  readonly subject: string
  readonly reference: string
}

export interface Benchmark {
  /** A timing benchmark (the default); see Simulation.ts for the other kind. */
  readonly kind?: "timing" | undefined
  /** What `pnpm bench <name>` selects; also the docs section id. */
  readonly name: string
  readonly title: string
  /** A paragraph for the docs: what is measured and why. */
  readonly description: string
  readonly peers: ReadonlyArray<Peer>
  readonly verdict?: VerdictSpec | undefined
  /**
   * Runs before the first call of any peer (to start a server, say); what it
   * returns runs after the last, even when measuring fails.
   */
  readonly setup?: (() => Promise<() => Promise<void>>) | undefined
}

export interface Settings {
  /** Measured rounds; each round takes one sample of every peer. */
  readonly samples: number
  /** Rounds run and thrown away before measuring, after a first calibration. */
  readonly warmupRounds: number
  /** How long one sample (one batch of calls of one peer) should take. */
  readonly targetSampleMillis: number
}

export const defaultSettings: Settings = { samples: 60, warmupRounds: 8, targetSampleMillis: 10 }

export const quickSettings: Settings = { samples: 15, warmupRounds: 3, targetSampleMillis: 5 }

/** Nanoseconds from an arbitrary origin. */
export type Clock = () => bigint

export const hrtime: Clock = () => process.hrtime.bigint()

/** The raw outcome of one peer: per-sample ns/call, in sampling order. */
export interface Measurement {
  readonly name: string
  readonly iterations: number
  readonly nsPerCall: ReadonlyArray<number>
}

export interface Row {
  readonly name: string
  readonly group: string
  readonly bare: boolean
  /** The name of the bare peer `ratioToBare` is taken against: its group's, or the one the peer names. */
  readonly baseline: string
  /** Median over samples of ns per call. */
  readonly nsPerCall: number
  readonly p25: number
  readonly p75: number
  /** `nsPerCall` over the `nsPerCall` of the `baseline` peer. */
  readonly ratioToBare: number
  /** `nsPerCall` over the `nsPerCall` of every bare peer, by name. */
  readonly ratioTo: Readonly<Record<string, number>>
  readonly samples: number
  /** Calls per sample. */
  readonly iterations: number
}

export interface Verdict {
  readonly ok: boolean
  readonly subject: string
  readonly subjectRatio: number
  readonly reference: string
  readonly referenceRatio: number
  readonly text: string
}

/** What `--json` prints for one timing benchmark. */
export interface Report {
  readonly kind: "timing"
  readonly benchmark: string
  readonly title: string
  readonly rows: ReadonlyArray<Row>
  readonly verdict?: Verdict
  readonly settings: Settings
  readonly machine: Machine
}

const defaultGroup = "default"

const groupOf = (peer: Peer): string => peer.group ?? defaultGroup

/** Linear interpolation between closest ranks (R's type 7, numpy's default). */
export const quantile = (values: ReadonlyArray<number>, q: number): number => {
  if (values.length === 0) throw new Error("quantile of no values")
  const sorted = [...values].sort((a, b) => a - b)
  const position = (sorted.length - 1) * q
  const lower = Math.floor(position)
  const upper = Math.ceil(position)
  return sorted[lower]! + (sorted[upper]! - sorted[lower]!) * (position - lower)
}

export const median = (values: ReadonlyArray<number>): number => quantile(values, 0.5)

const round = (value: number, digits: number): number => {
  const scale = 10 ** digits
  return Math.round(value * scale) / scale
}

/** The order of peer indices in a round: round-robin, starting one further each round. */
export const roundOrder = (size: number, round: number): ReadonlyArray<number> =>
  Array.from({ length: size }, (_, k) => (k + round) % size)

/**
 * Throws unless names are unique, every group has exactly one bare peer (or
 * none, when each of its peers names a baseline), and every named baseline is
 * a bare peer.
 */
export const validate = (benchmark: Benchmark): void => {
  const names = new Set<string>()
  for (const peer of benchmark.peers) {
    if (names.has(peer.name)) throw new Error(`${benchmark.name}: two peers are named "${peer.name}"`)
    names.add(peer.name)
  }
  const groups = new Set(benchmark.peers.map(groupOf))
  for (const group of groups) {
    const members = benchmark.peers.filter((peer) => groupOf(peer) === group)
    const bare = members.filter((peer) => peer.bare === true)
    const allNamed = bare.length === 0 && members.every((peer) => peer.baseline !== undefined)
    if (bare.length !== 1 && !allNamed) {
      throw new Error(`${benchmark.name}: group "${group}" needs exactly one bare peer, has ${bare.length}`)
    }
  }
  for (const peer of benchmark.peers) {
    if (peer.baseline === undefined) continue
    if (
      peer.bare === true &&
      benchmark.peers.some((other) => other.name === peer.baseline && groupOf(other) === groupOf(peer))
    ) {
      throw new Error(`${benchmark.name}: the bare peer "${peer.name}" names a baseline of its own group`)
    }
    if (!benchmark.peers.some((other) => other.name === peer.baseline && other.bare === true)) {
      throw new Error(`${benchmark.name}: "${peer.name}" names the baseline "${peer.baseline}", which is no bare peer`)
    }
  }
  for (const name of benchmark.verdict === undefined ? [] : [benchmark.verdict.subject, benchmark.verdict.reference]) {
    if (!names.has(name)) throw new Error(`${benchmark.name}: the verdict names "${name}", which is no peer`)
  }
}

/** `×1.42`, `×35.2`, `×120`: three significant digits at most. */
export const formatRatio = (ratio: number): string =>
  `×${ratio < 10 ? ratio.toFixed(2) : ratio < 100 ? ratio.toFixed(1) : ratio.toFixed(0)}`

/**
 * Turns raw samples into the report: medians, quartiles, ratios, verdict. Pure.
 */
export const summarize = (
  benchmark: Benchmark,
  measurements: ReadonlyArray<Measurement>,
  settings: Settings,
  machine: Machine
): Report => {
  validate(benchmark)
  const byName = new Map(measurements.map((measurement) => [measurement.name, measurement]))
  const measured = benchmark.peers.map((peer) => {
    const measurement = byName.get(peer.name)
    if (measurement === undefined || measurement.nsPerCall.length === 0) {
      throw new Error(`${benchmark.name}: no samples for "${peer.name}"`)
    }
    return { peer, measurement, median: median(measurement.nsPerCall) }
  })
  const bareMedians = new Map(measured.filter(({ peer }) => peer.bare === true).map((m) => [m.peer.name, m]))
  const baselineOf = (peer: Peer) =>
    peer.baseline === undefined
      ? [...bareMedians.values()].find((bare) => groupOf(bare.peer) === groupOf(peer))!
      : bareMedians.get(peer.baseline)!
  const rows: Array<Row> = measured.map(({ measurement, median, peer }) => {
    const baseline = baselineOf(peer)
    return {
      name: peer.name,
      group: groupOf(peer),
      bare: peer.bare === true,
      baseline: baseline.peer.name,
      nsPerCall: round(median, 2),
      p25: round(quantile(measurement.nsPerCall, 0.25), 2),
      p75: round(quantile(measurement.nsPerCall, 0.75), 2),
      ratioToBare: round(median / baseline.median, 3),
      ratioTo: Object.fromEntries([...bareMedians].map(([name, bare]) => [name, round(median / bare.median, 3)])),
      samples: measurement.nsPerCall.length,
      iterations: measurement.iterations
    }
  })
  const report: Report = { kind: "timing", benchmark: benchmark.name, title: benchmark.title, rows, settings, machine }
  return benchmark.verdict === undefined ? report : { ...report, verdict: judge(benchmark.verdict, rows) }
}

const judge = (spec: VerdictSpec, rows: ReadonlyArray<Row>): Verdict => {
  const subject = rows.find((row) => row.name === spec.subject)!
  const reference = rows.find((row) => row.name === spec.reference)!
  const ok = subject.ratioToBare <= reference.ratioToBare
  return {
    ok,
    subject: subject.name,
    subjectRatio: subject.ratioToBare,
    reference: reference.name,
    referenceRatio: reference.ratioToBare,
    text: `${subject.name} ${formatRatio(subject.ratioToBare)} vs ${reference.name} ${
      formatRatio(reference.ratioToBare)
    } (each to its own bare call) — ${ok ? "OK" : "WORSE"}`
  }
}

const timeBatch = async (peer: Peer, iterations: number, clock: Clock): Promise<number> => {
  const start = clock()
  await peer.run(iterations)
  return Number(clock() - start)
}

const scaleTo = (iterations: number, elapsedNanos: number, targetNanos: number, maxIterations: number): number =>
  Math.min(maxIterations, Math.max(1, Math.round(iterations * targetNanos / Math.max(1, elapsedNanos))))

/**
 * Grows the batch (at most ×10 a step) until it takes at least half the target,
 * then scales it to the target.
 */
export const calibrate = async (
  peer: Peer,
  targetNanos: number,
  clock: Clock,
  maxIterations = 100_000_000
): Promise<number> => {
  let iterations = 1
  for (;;) {
    const elapsed = await timeBatch(peer, iterations, clock)
    if (elapsed >= targetNanos / 2 || iterations >= maxIterations) {
      return scaleTo(iterations, elapsed, targetNanos, maxIterations)
    }
    const growth = elapsed <= 0 ? 10 : Math.min(10, Math.max(2, Math.ceil(targetNanos / 2 / elapsed)))
    iterations = Math.min(maxIterations, iterations * growth)
  }
}

export interface Progress {
  readonly benchmark: string
  readonly phase: "calibrate" | "warm-up" | "measure"
  readonly done: number
  readonly total: number
}

export interface MeasureOptions {
  readonly clock?: Clock | undefined
  readonly onProgress?: ((progress: Progress) => void) | undefined
}

/**
 * Calibrates every peer, runs the warm-up rounds (and recalibrates from their
 * medians, since the JIT has now done its work), then the measured rounds,
 * all between the benchmark's setup and its teardown.
 */
export const measure = async (
  benchmark: Benchmark,
  settings: Settings,
  machine: Machine,
  options: MeasureOptions = {}
): Promise<Report> => {
  validate(benchmark)
  const teardown = await benchmark.setup?.()
  try {
    return await measureReady(benchmark, settings, machine, options)
  } finally {
    await teardown?.()
  }
}

const measureReady = async (
  benchmark: Benchmark,
  settings: Settings,
  machine: Machine,
  options: MeasureOptions
): Promise<Report> => {
  const clock = options.clock ?? hrtime
  const progress = options.onProgress ?? (() => {})
  const { peers } = benchmark
  const targetNanos = settings.targetSampleMillis * 1e6
  const iterations: Array<number> = []
  for (const [index, peer] of peers.entries()) {
    progress({ benchmark: benchmark.name, phase: "calibrate", done: index, total: peers.length })
    iterations.push(await calibrate(peer, targetNanos, clock))
  }

  const rounds = async (count: number, phase: Progress["phase"]) => {
    const elapsed = peers.map(() => [] as Array<number>)
    for (let round = 0; round < count; round++) {
      progress({ benchmark: benchmark.name, phase, done: round, total: count })
      for (const index of roundOrder(peers.length, round)) {
        elapsed[index]!.push(await timeBatch(peers[index]!, iterations[index]!, clock))
      }
    }
    return elapsed
  }

  if (settings.warmupRounds > 0) {
    const warm = await rounds(settings.warmupRounds, "warm-up")
    warm.forEach((elapsed, index) => {
      iterations[index] = scaleTo(iterations[index]!, median(elapsed), targetNanos, 100_000_000)
    })
  }
  const measured = await rounds(settings.samples, "measure")
  progress({ benchmark: benchmark.name, phase: "measure", done: settings.samples, total: settings.samples })

  return summarize(
    benchmark,
    peers.map((peer, index) => ({
      name: peer.name,
      iterations: iterations[index]!,
      nsPerCall: measured[index]!.map((elapsed) => elapsed / iterations[index]!)
    })),
    settings,
    machine
  )
}
