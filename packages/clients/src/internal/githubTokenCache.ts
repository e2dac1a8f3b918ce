/**
 * The installation-token cache: a token is handed out until its refresh
 * moment; then the first caller starts one exchange in a fiber of the
 * provider's scope (so its own interruption does not cancel it for the
 * others) and every caller meanwhile waits for that exchange. A refresh that
 * fails while the old token still lives keeps serving the old one.
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
  | { readonly _tag: "Wait"; readonly deferred: Deferred.Deferred<T, E> }
  | { readonly _tag: "Lead" }

interface State<T, E> {
  readonly cached: T | undefined
  readonly inflight: Deferred.Deferred<T, E> | undefined
}

/** The cache over `exchange`, its exchanges forked in `scope`. */
export const make = <T extends Cached, E>(
  exchange: Effect.Effect<T, E>,
  scope: Scope.Scope,
  installationId: number
) =>
  Effect.gen(function*() {
    const state = yield* Ref.make<State<T, E>>({ cached: undefined, inflight: undefined })

    const settle = (deferred: Deferred.Deferred<T, E>) => (exit: Exit.Exit<T, E>) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const previous = (yield* Ref.get(state)).cached
        // A failed refresh while the old token still lives: keep serving it, and say so.
        const outcome = Exit.isFailure(exit) && previous !== undefined && now < previous.expiresAt
          ? Exit.succeed(previous)
          : exit
        if (outcome !== exit) {
          yield* Effect.logWarning("GitHub token refresh failed; the current token is still valid, keeping it").pipe(
            Effect.annotateLogs({ installation_id: installationId })
          )
        }
        yield* Ref.set(state, {
          cached: Exit.isSuccess(exit) ? exit.value : previous,
          inflight: undefined
        })
        yield* Deferred.done(deferred, outcome)
      })

    const get: Effect.Effect<T, E> = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const current = yield* Ref.get(state)
      if (current.cached !== undefined && now < current.cached.refreshAt) return current.cached
      const mine = yield* Deferred.make<T, E>()
      const decision = yield* Ref.modify(state, (s): [Decision<T, E>, State<T, E>] => {
        if (s.cached !== undefined && now < s.cached.refreshAt) return [{ _tag: "Hit", token: s.cached }, s]
        if (s.inflight !== undefined) return [{ _tag: "Wait", deferred: s.inflight }, s]
        return [{ _tag: "Lead" }, { ...s, inflight: mine }]
      })
      switch (decision._tag) {
        case "Hit":
          return decision.token
        case "Wait":
          return yield* Deferred.await(decision.deferred)
        case "Lead":
          yield* Effect.forkIn(Effect.onExit(exchange, settle(mine)), scope)
          return yield* Deferred.await(mine)
      }
    })

    /** Drops `token` if it is still the cached one. */
    const invalidate = (token: Redacted.Redacted<string>) =>
      Ref.update(state, (s) =>
        s.cached !== undefined && Redacted.value(s.cached.token) === Redacted.value(token)
          ? { ...s, cached: undefined }
          : s)

    return { get, invalidate }
  })
