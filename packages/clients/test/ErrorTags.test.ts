/**
 * Error tags are API: a caller tells failures apart with `catchTag`, so one
 * tag must mean one class across every package a program combines. This walks
 * the barrels of @bulwark/core, @bulwark/http, @bulwark/clients and
 * @bulwark/emulators and fails on any two tagged error classes that share a
 * `_tag`.
 */
import * as Core from "@bulwark/core"
import * as Emulators from "@bulwark/emulators"
import * as Http from "@bulwark/http"
import { describe, expect, it } from "@effect/vitest"
import { Data, Schema } from "effect"
import * as Clients from "../src/index.js"

/**
 * The tag of a tagged error class: `Schema.TaggedError` keeps it as a static
 * `_tag`; `Data.TaggedError` only on instances, so one is made (its
 * constructor copies whatever it is given). `undefined`: not a tagged error.
 */
const tagOf = (value: unknown): string | undefined | "unreadable" => {
  if (typeof value !== "function" || !(value.prototype instanceof Error)) return undefined
  const own = (value as { readonly _tag?: unknown })._tag
  if (typeof own === "string") return own
  try {
    const instance = new (value as new(args: object) => { readonly _tag?: unknown })({})
    return typeof instance._tag === "string" ? instance._tag : undefined
  } catch {
    return "unreadable"
  }
}

interface Found {
  /** Each tag with the exported names of the classes that carry it (a class exported twice counts once). */
  readonly byTag: ReadonlyMap<string, ReadonlyArray<string>>
  /** Error classes whose tag could not be read: the walk would be blind to them. */
  readonly unreadable: ReadonlyArray<string>
}

/** Walks `barrels` (package → its namespaces → their exports). */
const walk = (barrels: Readonly<Record<string, Readonly<Record<string, unknown>>>>): Found => {
  const classes = new Map<string, Map<unknown, string>>()
  const unreadable: Array<string> = []
  for (const [pkg, barrel] of Object.entries(barrels)) {
    for (const [namespace, module] of Object.entries(barrel)) {
      if (typeof module !== "object" || module === null) continue
      for (const [name, value] of Object.entries(module)) {
        const where = `${pkg}/${namespace}.${name}`
        const tag = tagOf(value)
        if (tag === "unreadable") unreadable.push(where)
        if (tag === undefined || tag === "unreadable") continue
        const owners = classes.get(tag) ?? new Map<unknown, string>()
        if (!owners.has(value)) owners.set(value, where)
        classes.set(tag, owners)
      }
    }
  }
  return {
    byTag: new Map([...classes].map(([tag, owners]) => [tag, [...owners.values()]])),
    unreadable
  }
}

const duplicates = (found: Found) => [...found.byTag].filter(([, owners]) => owners.length > 1)

describe("error tags", () => {
  it("no two exported tagged error classes of core, http, clients and emulators share a _tag", () => {
    const found = walk({
      "@bulwark/core": Core,
      "@bulwark/http": Http,
      "@bulwark/clients": Clients,
      "@bulwark/emulators": Emulators
    })
    expect(found.unreadable).toEqual([])
    expect(Object.fromEntries(duplicates(found))).toEqual({})
    // the walk sees every kind of class: Schema and Data errors, of every package
    for (
      const tag of [
        "MalformedResponse",
        "InvalidInput",
        "AuthenticationFailed",
        "StreamFailed",
        "GpuBusy",
        "RequestRefused",
        "BadRequest",
        "RetriesExhausted",
        "InvalidPolicy",
        "HttpRejected",
        "InvalidFaultSpec"
      ]
    ) expect(found.byTag.has(tag), tag).toBe(true)
    expect(found.byTag.size).toBeGreaterThan(25)
  })

  it("the walk reports two classes with one tag, Schema or Data, and not a class exported twice", () => {
    class A extends Schema.TaggedError<A>()("Same", { detail: Schema.String }) {}
    class B extends Data.TaggedError("Same")<{ readonly detail: string }> {}
    class C extends Data.TaggedError("Other")<{}> {}
    const found = walk({ pkg: { One: { A, C }, Two: { B, Again: A, C } } })
    expect(duplicates(found)).toEqual([["Same", ["pkg/One.A", "pkg/Two.B"]]])
    expect(found.byTag.get("Other")).toEqual(["pkg/One.C"])
  })
})
