/**
 * Seeded pseudo-randomness for the emulators: the same seed and the same
 * request give the same output, service time and faults on every run.
 */

/** A uniform generator on [0, 1) (mulberry32): small, fast and good enough for test data. */
export const generator = (seed: number): () => number => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** FNV-1a over the text: a stable 32-bit seed for a request. */
export const hash = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** A generator that is a function of the emulator's seed and of what the request asked. */
export const forRequest = (seed: number, request: unknown): () => number =>
  generator(hash(`${seed}:${JSON.stringify(request)}`))

/** An exponential draw with the given mean, from a uniform draw. */
export const exponential = (mean: number, uniform: number): number => -mean * Math.log(1 - uniform)

/** A normal draw (Box–Muller) from two uniform draws. */
export const normal = (mean: number, deviation: number, u1: number, u2: number): number =>
  mean + deviation * Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2)
