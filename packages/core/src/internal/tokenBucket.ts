/**
 * A token bucket and a minimum spacing, kept as the generic cell rate algorithm
 * (GCRA): two numbers instead of a token count and a refill timer.
 *
 * - `tat`, the theoretical arrival time: the bucket is full when `tat ≤ now`,
 *   and each admission pushes it one emission interval (`interval / rate`) later.
 *   A call may start once `tat - tolerance ≤ now`, where the tolerance
 *   `(burst - 1) × emission` is the burst.
 * - `last`, when the previous call was admitted: the next one starts no sooner
 *   than `last + spacing`.
 *
 * A caller reserves its start time at once and then sleeps until it; callers
 * are thus served in arrival order, and the k-th reservation never starts
 * before the (k-1)-th. Start times are rounded up to whole milliseconds and the
 * state is advanced from the rounded time, so the instant a caller wakes is the
 * instant the algorithm admitted.
 */
export class TokenBucket {
  tat = -Infinity
  last = -Infinity
  /** Callers sleeping on a reservation. */
  waiting = 0

  constructor(
    /** Milliseconds per token; 0 without a rate. */
    readonly emission: number,
    /** `(burst - 1) × emission`. */
    readonly tolerance: number,
    readonly spacing: number
  ) {}

  /** The earliest start, at or after `now`, in whole milliseconds after `now`. */
  delay(now: number): number {
    const earliest = Math.max(this.tat - this.tolerance, this.last + this.spacing)
    return earliest <= now ? 0 : Math.ceil(earliest - now)
  }

  /** Takes the slot at `start` (≥ the earliest); returns what undoes it. */
  reserve(start: number): Reservation {
    const reservation = { tat: this.tat, last: this.last, start, next: 0 }
    this.tat = Math.max(this.tat, start) + this.emission
    this.last = start
    reservation.next = this.tat
    return reservation
  }

  /**
   * Gives back an unused slot if nobody reserved after it; otherwise the slot is
   * simply lost, which can only make the limiter stricter.
   */
  cancel(reservation: Reservation): void {
    if (this.tat === reservation.next && this.last === reservation.start) {
      this.tat = reservation.tat
      this.last = reservation.last
    }
  }

  /** Whole tokens available now. */
  tokens(now: number, burst: number): number {
    if (this.emission === 0) return this.last + this.spacing <= now ? 1 : 0
    const free = burst - Math.max(0, this.tat - now) / this.emission
    return Math.max(0, Math.floor(free + 1e-9))
  }

  /** Behaves exactly as a new bucket would: safe to forget. */
  idle(now: number): boolean {
    return this.waiting === 0 && this.tat <= now && this.last + this.spacing <= now
  }
}

/** One taken slot. */
export interface Reservation {
  readonly tat: number
  readonly last: number
  readonly start: number
  next: number
}
