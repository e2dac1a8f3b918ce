import type { Totals, TrackerSnapshot, Window } from "./breakerTracker.js"

const PRESENT = 1
const FAILED = 2
const SLOW = 4

/** Slots per chunk: a call copies one chunk and the list of chunks, not the whole ring. */
const CHUNK = 32

interface CountState extends Totals {
  /** The ring in chunks of `CHUNK` codes; 0 is an empty slot. */
  readonly chunks: ReadonlyArray<ReadonlyArray<number>>
  /** The slot the next call overwrites, which holds the oldest call. */
  readonly next: number
}

/**
 * The last `size` calls. The ring is copied on write rather than mutated, so a
 * state read from the breaker's `Ref` never changes under the reader; it is cut
 * into chunks so a call copies about `size / 32 + 32` slots, not `size`.
 */
export const countWindow = (size: number): Window<CountState> => {
  const slot = (state: CountState, index: number) => state.chunks[index >> 5]![index & (CHUNK - 1)]!
  const add = (state: CountState, failed: boolean, slow: boolean): CountState => {
    const at = state.next
    const old = slot(state, at)
    const chunks = state.chunks.slice()
    const chunk = chunks[at >> 5]!.slice()
    chunk[at & (CHUNK - 1)] = PRESENT | (failed ? FAILED : 0) | (slow ? SLOW : 0)
    chunks[at >> 5] = chunk
    return {
      chunks,
      next: (at + 1) % size,
      calls: state.calls + (old & PRESENT ? 0 : 1),
      failures: state.failures + (failed ? 1 : 0) - (old & FAILED ? 1 : 0),
      slow: state.slow + (slow ? 1 : 0) - (old & SLOW ? 1 : 0)
    }
  }
  const initial: CountState = {
    chunks: Array.from(
      { length: Math.ceil(size / CHUNK) },
      (_, i) => Array.from({ length: Math.min(CHUNK, size - i * CHUNK) }, () => 0)
    ),
    next: 0,
    calls: 0,
    failures: 0,
    slow: 0
  }
  return {
    initial,
    add,
    totals: (state) => state,
    label: "",
    encode: (state): TrackerSnapshot => {
      const outcomes: Array<number> = []
      for (let i = 0; i < size; i++) {
        const code = slot(state, (state.next + i) % size)
        if (code !== 0) outcomes.push(code)
      }
      return { _tag: "CountWindow", size, outcomes }
    },
    // A window of another size keeps the newest calls that fit.
    decode: (snapshot) =>
      snapshot._tag === "CountWindow"
        ? snapshot.outcomes.slice(-size).reduce(
          (state, code) => add(state, (code & FAILED) !== 0, (code & SLOW) !== 0),
          initial
        )
        : undefined
  }
}
