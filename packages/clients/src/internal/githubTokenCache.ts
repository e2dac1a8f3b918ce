/**
 * The installation-token cache. A token is handed out at once while it is
 * valid; from its refresh moment the first caller also starts one exchange in
 * the background, and the others keep getting the old token meanwhile. Only a
 * caller with no valid token waits, for the one exchange in flight. Exchanges
 * run in fibers of the provider's scope, so a caller's interruption never
 * cancels one the others count on. A refresh that fails while the old token
 * lives keeps serving it, and the next refresh waits `retryDelay` (never past
 * the token's expiry), so a failing endpoint is not hammered by every call.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"

/** What the cache needs to know of a token. */
export interface Cached {
  readonly token: Redacted.Redacted<string>
  readonly expiresAt: number
  readonly refreshAt: number
}

type Decision<T, E> =
  | { readonly _tag: "Hit"; readonly token: T }
  | { readonly _tag: "Refresh"; readonly token: T }
  | { readonly _tag: "Wait"; readonly deferred: Deferred.Deferred<T, E> }
  | { readonly _tag: "Lead" }

interface State<T, E> {
  readonly cached: T | undefined
  readonly inflight: Deferred.Deferred<T, E> | undefined
  /** No background refresh starts before this moment (set by a failed one). */
  readonly refreshNotBefore: number
}

/** The cache over `exchange`, its exchanges forked in `scope`. */
export const make = <T extends Cached, E>(
  exchange: Effect.Effect<T, E>,
  scope: Scope.Scope,
  installationId: number,
  retryDelayMillis: number
) =>
  Effect.gen(function*() {
    const state = yield* Ref.make<State<T, E>>({ cached: undefined, inflight: undefined, refreshNotBefore: 0 })

    const settle = (deferred: Deferred.Deferred<T, E>) => (exit: Exit.Exit<T, E>) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        // The state as it is now, not as it was at the start: an invalidation meanwhile counts.
        const previous = (yield* Ref.get(state)).cached
        const keepOld = Exit.isFailure(exit) && previous !== undefined && now < previous.expiresAt
        if (keepOld) {
          yield* Effect.logWarning(
            `GitHub token refresh failed; the current token is still valid, keeping it (next try in ${retryDelayMillis} ms at the earliest)`
          ).pipe(Effect.annotateLogs({ installation_id: installationId }))
        }
        yield* Ref.set(state, {
          cached: Exit.isSuccess(exit) ? exit.value : previous,
          inflight: undefined,
          refreshNotBefore: keepOld ? Math.min(now + retryDelayMillis, previous.expiresAt) : 0
        })
        // Whoever waits had no valid token: they get the exchange's own outcome.
        yield* Deferred.done(deferred, exit)
      })

    // Forked from an uninterruptible region: the exchange itself must stay interruptible (the scope's close).
    const start = (deferred: Deferred.Deferred<T, E>) =>
      Effect.forkIn(Effect.interruptible(Effect.onExit(exchange, settle(deferred))), scope)

    const get: Effect.Effect<T, E> = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const current = yield* Ref.get(state)
      if (current.cached !== undefined && now < current.cached.refreshAt) return current.cached
      const mine = yield* Deferred.make<T, E>()
      // Claiming the exchange and forking it are one step: a caller interrupted between them
      // would leave `inflight` a Deferred nobody completes, and every later caller waiting on it.
      return yield* Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const decision = yield* Ref.modify(state, (s): [Decision<T, E>, State<T, E>] => {
            const cached = s.cached
            if (cached !== undefined && now < cached.refreshAt) return [{ _tag: "Hit", token: cached }, s]
            if (cached !== undefined && now < cached.expiresAt) {
              return s.inflight !== undefined || now < s.refreshNotBefore
                ? [{ _tag: "Hit", token: cached }, s]
                : [{ _tag: "Refresh", token: cached }, { ...s, inflight: mine }]
            }
            if (s.inflight !== undefined) return [{ _tag: "Wait", deferred: s.inflight }, s]
            return [{ _tag: "Lead" }, { ...s, inflight: mine }]
          })
          switch (decision._tag) {
            case "Hit":
              return decision.token
            case "Refresh":
              yield* start(mine)
              return decision.token
            case "Wait":
              return yield* restore(Deferred.await(decision.deferred))
            case "Lead":
              yield* start(mine)
              return yield* restore(Deferred.await(mine))
          }
        })
      )
    })

    /** Drops `token` if it is still the cached one. */
    const invalidate = (token: Redacted.Redacted<string>) =>
      Ref.update(state, (s) =>
        s.cached !== undefined && Redacted.value(s.cached.token) === Redacted.value(token)
          ? { ...s, cached: undefined }
          : s)

    return { get, invalidate }
  })
