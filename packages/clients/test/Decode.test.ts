import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { MalformedResponse } from "../src/ClientErrors.js"
import * as Decode from "../src/internal/decode.js"

const Answer = Schema.Struct({ id: Schema.String, tokens: Schema.Number })
const origin = { service: "svc", endpoint: "POST /v1/things" }
const respond = (body: string, status = 200) =>
  HttpClientResponse.fromWeb(HttpClientRequest.post("http://127.0.0.1/v1/things"), new Response(body, { status }))

describe("decode", () => {
  it.effect("decodes a body that matches", () =>
    Effect.gen(function*() {
      expect(yield* Decode.json(Answer, origin)(respond("{\"id\":\"a\",\"tokens\":3}"))).toEqual({ id: "a", tokens: 3 })
    }))

  it.effect("an HTML page, a cut-off body and a wrong shape are MalformedResponse naming what was wrong", () =>
    Effect.gen(function*() {
      const html = yield* Effect.flip(Decode.json(Answer, origin)(respond("<html>502 Bad Gateway</html>")))
      expect(html).toBeInstanceOf(MalformedResponse)
      expect(html).toMatchObject({ service: "svc", endpoint: "POST /v1/things", status: 200 })
      expect(html.reason).toContain("not JSON")
      expect(html.excerpt).toBe("<html>502 Bad Gateway</html>")
      const cut = yield* Effect.flip(Decode.json(Answer, origin)(respond("{\"id\":\"a\",\"tok")))
      expect(cut.reason).toContain("not JSON")
      const shape = yield* Effect.flip(Decode.json(Answer, origin)(respond("{\"id\":1}")))
      expect(shape.reason).toContain("id")
      expect(shape.message).toContain("svc POST /v1/things answered 200 with a malformed body")
    }))

  it("keeps at most 512 characters of the body", () => {
    expect(Decode.excerpt("x".repeat(600))).toHaveLength(513)
    expect(Decode.excerpt("short")).toBe("short")
  })
})
