/**
 * Makes every test run reproducible: Effect seeds its default `Random` service
 * from `Math.random` when it loads, so a seeded `Math.random` installed before
 * any test file imports `effect` makes default jitter deterministic too.
 * Set BULWARK_TEST_SEED to explore other seeds.
 */
const seed = Number(process.env.BULWARK_TEST_SEED ?? 20261124) >>> 0

/** mulberry32: small, fast, and good enough for jitter. */
const mulberry32 = (initial: number) => {
  let state = initial
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

Math.random = mulberry32(seed)
