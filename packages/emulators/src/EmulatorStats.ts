/**
 * The counters every emulator keeps: requests, answers by status, faults,
 * concurrency, busy time of its capacity and the client job ids it has seen.
 * Read in-process with `snapshot`, or over HTTP at `/_emulator/stats`.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Snapshot {
  readonly service: string
  /** How many requests the emulated resource serves at once (GPU slots, model slots). */
  readonly capacity: number
  readonly requests: number
  /** Answers by status code. */
  readonly responses: Readonly<Record<string, number>>
  /** Answers with a status of 400 or more, by status code. */
  readonly rejections: Readonly<Record<string, number>>
  /** Faults injected by the timeline, by kind. */
  readonly faults: Readonly<Record<string, number>>
  readonly inFlight: number
  readonly maxConcurrency: number
  /** Slot-milliseconds during which the capacity was doing work. */
  readonly busyMillis: number
  /** From the start of the first request to the end of the last answer (or now, while busy). */
  readonly windowMillis: number
  /** `busyMillis / (capacity × windowMillis)`; 0 before any request. */
  readonly utilization: number
  /** Every distinct `client_job_id` seen, in order of first sight (the first 10 000). */
  readonly clientJobIds: ReadonlyArray<string>
  /** How many requests carried a `client_job_id`. */
  readonly clientJobIdRequests: number
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface EmulatorStats {
  /** Counts `self` as a request in flight while it runs. */
  readonly request: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly respond: (status: number) => Effect.Effect<void>
  readonly fault: (kind: string) => Effect.Effect<void>
  /** Counts the time `self` runs as busy time of one slot of the capacity. */
  readonly busy: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly clientJobId: (id: string) => Effect.Effect<void>
  readonly snapshot: Effect.Effect<Snapshot>
  /**
   * Starts the counters over. What is in flight carries over from the reset
   * instant: those requests count as requests and as the concurrency seen,
   * and a busy slot's time counts from the reset on.
   */
  readonly reset: Effect.Effect<void>
}

const maxJobIds = 10_000

interface Counters {
  requests: number
  responses: Record<string, number>
  faults: Record<string, number>
  inFlight: number
  maxConcurrency: number
  busyMillis: number
  firstAt: number | undefined
  lastAt: number | undefined
  clientJobIds: Set<string>
  clientJobIdRequests: number
}

const fresh = (): Counters => ({
  requests: 0,
  responses: {},
  faults: {},
  inFlight: 0,
  maxConcurrency: 0,
  busyMillis: 0,
  firstAt: undefined,
  lastAt: undefined,
  clientJobIds: new Set(),
  clientJobIdRequests: 0
})

const bump = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1
}

/**
 * Counters for one emulated service. The counters are plain mutable numbers
 * updated inside `Effect.sync`: JavaScript runs one fiber step at a time, so
 * no update is lost, and the hot path allocates nothing.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: { readonly service: string; readonly capacity?: number | undefined }) =>
  Effect.sync((): EmulatorStats => {
    const capacity = options.capacity ?? 1
    let counters = fresh()
    /** Slots busy right now, each with the instant its busy time counts from. */
    const busySlots = new Set<{ since: number }>()
    const now = Clock.currentTimeMillis
    const begin = Effect.flatMap(now, (at) =>
      Effect.sync(() => {
        counters.requests++
        counters.inFlight++
        counters.maxConcurrency = Math.max(counters.maxConcurrency, counters.inFlight)
        counters.firstAt ??= at
      }))
    const end = Effect.flatMap(now, (at) =>
      Effect.sync(() => {
        counters.inFlight--
        counters.lastAt = at
      }))
    return {
      request: (self) => Effect.acquireUseRelease(begin, () => self, () => end),
      respond: (status) => Effect.sync(() => bump(counters.responses, String(status))),
      fault: (kind) => Effect.sync(() => bump(counters.faults, kind)),
      busy: (self) =>
        Effect.acquireUseRelease(
          Effect.flatMap(now, (at) =>
            Effect.sync(() => {
              const slot = { since: at }
              busySlots.add(slot)
              return slot
            })),
          () => self,
          (slot) =>
            Effect.flatMap(now, (at) =>
              Effect.sync(() => {
                busySlots.delete(slot)
                // `since` is the reset instant for a slot that was busy across a reset
                counters.busyMillis += Math.max(0, at - slot.since)
              }))
        ),
      clientJobId: (id) =>
        Effect.sync(() => {
          counters.clientJobIdRequests++
          if (counters.clientJobIds.size < maxJobIds) counters.clientJobIds.add(id)
        }),
      snapshot: Effect.map(now, (at): Snapshot => {
        let busyNow = 0
        for (const slot of busySlots) busyNow += Math.max(0, at - slot.since)
        const busyMillis = counters.busyMillis + busyNow
        const until = counters.inFlight > 0 || counters.lastAt === undefined ? at : counters.lastAt
        const windowMillis = counters.firstAt === undefined ? 0 : until - counters.firstAt
        const rejections: Record<string, number> = {}
        for (const [status, count] of Object.entries(counters.responses)) {
          if (Number(status) >= 400) rejections[status] = count
        }
        return {
          service: options.service,
          capacity,
          requests: counters.requests,
          responses: { ...counters.responses },
          rejections,
          faults: { ...counters.faults },
          inFlight: counters.inFlight,
          maxConcurrency: counters.maxConcurrency,
          busyMillis,
          windowMillis,
          utilization: windowMillis > 0 ? Math.min(1, busyMillis / (capacity * windowMillis)) : 0,
          clientJobIds: [...counters.clientJobIds],
          clientJobIdRequests: counters.clientJobIdRequests
        }
      }),
      // The requests and busy slots in flight carry over, counted from the reset instant:
      // dropping them would read a loaded emulator as idle until they end.
      reset: Effect.flatMap(now, (at) =>
        Effect.sync(() => {
          const inFlight = counters.inFlight
          counters = fresh()
          counters.inFlight = inFlight
          counters.requests = inFlight
          counters.maxConcurrency = inFlight
          if (inFlight > 0 || busySlots.size > 0) counters.firstAt = at
          for (const slot of busySlots) slot.since = at
        }))
    }
  })
