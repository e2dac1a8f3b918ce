import { describe, expect, it } from "@effect/vitest"
import type { Benchmark, Clock, Measurement, Peer, Report, Settings } from "../src/Harness.js"
import * as Harness from "../src/Harness.js"
import type { Machine } from "../src/Machine.js"

const machine: Machine = { cpu: "Test CPU", cores: 2, node: "v20.0.0", platform: "test/x64" }
const settings: Settings = { samples: 5, warmupRounds: 2, targetSampleMillis: 1 }
const idle = () => Promise.resolve()

const benchmark = (peers: ReadonlyArray<Peer>, verdict?: Benchmark["verdict"]): Benchmark => ({
  name: "fake",
  title: "fake peers",
  description: "",
  peers,
  verdict
})

const fakePeers: ReadonlyArray<Peer> = [
  { name: "bare effect", group: "effect", bare: true, run: idle },
  { name: "wrapped effect", group: "effect", run: idle },
  { name: "bare fn", group: "promise", bare: true, run: idle },
  { name: "wrapped fn", group: "promise", run: idle }
]

const samples = (name: string, nsPerCall: ReadonlyArray<number>): Measurement => ({ name, iterations: 1000, nsPerCall })

/** A clock that only moves when a fake peer says its calls took time. */
const fakeClock = () => {
  let now = 0n
  const clock: Clock = () => now
  const advance = (nanos: number) => {
    now += BigInt(Math.round(nanos))
  }
  return { clock, advance }
}

describe("Harness", () => {
  describe("quantile", () => {
    it("takes the middle value, or the mean of the two middle values", () => {
      expect(Harness.median([3, 1, 2])).toBe(2)
      expect(Harness.median([4, 1, 3, 2])).toBe(2.5)
      expect(Harness.median([7])).toBe(7)
    })

    it("interpolates between closest ranks", () => {
      expect(Harness.quantile([1, 2, 3, 4], 0.25)).toBe(1.75)
      expect(Harness.quantile([1, 2, 3, 4], 0.75)).toBe(3.25)
      expect(Harness.quantile([10, 0, 20, 30, 40], 0.25)).toBe(10)
    })

    it("refuses no values", () => {
      expect(() => Harness.median([])).toThrow()
    })
  })

  describe("roundOrder", () => {
    it("rotates the starting peer every round", () => {
      expect(Harness.roundOrder(3, 0)).toEqual([0, 1, 2])
      expect(Harness.roundOrder(3, 1)).toEqual([1, 2, 0])
      expect(Harness.roundOrder(3, 2)).toEqual([2, 0, 1])
      expect(Harness.roundOrder(3, 3)).toEqual([0, 1, 2])
    })
  })

  describe("summarize", () => {
    const report = Harness.summarize(
      benchmark(fakePeers, { subject: "wrapped effect", reference: "wrapped fn" }),
      [
        samples("bare effect", [100, 90, 110, 105, 95]),
        samples("wrapped effect", [300, 500, 200, 250, 400]),
        samples("bare fn", [40, 40, 40, 40]),
        samples("wrapped fn", [400, 200, 160, 1000])
      ],
      settings,
      machine
    )
    const row = (name: string) => report.rows.find((candidate) => candidate.name === name)!

    it("reports the median and quartiles of the per-sample ns/call", () => {
      expect(row("bare effect")).toMatchObject({ nsPerCall: 100, p25: 95, p75: 105, samples: 5, iterations: 1000 })
      expect(row("wrapped effect")).toMatchObject({ nsPerCall: 300, p25: 250, p75: 400 })
      expect(row("wrapped fn")).toMatchObject({ nsPerCall: 300, p25: 190, p75: 550 })
    })

    it("takes each row's ratio to the bare peer of its own group", () => {
      expect(row("bare effect")).toMatchObject({ ratioToBare: 1, baseline: "bare effect", bare: true })
      expect(row("wrapped effect")).toMatchObject({ ratioToBare: 3, baseline: "bare effect", bare: false })
      expect(row("bare fn")).toMatchObject({ ratioToBare: 1, baseline: "bare fn" })
      expect(row("wrapped fn")).toMatchObject({ ratioToBare: 7.5, baseline: "bare fn" })
    })

    it("also gives every row's ratio to every bare peer", () => {
      expect(row("wrapped fn").ratioTo).toEqual({ "bare effect": 3, "bare fn": 7.5 })
      expect(row("bare fn").ratioTo).toEqual({ "bare effect": 0.4, "bare fn": 1 })
    })

    it("keeps the peers' order", () => {
      expect(report.rows.map((r) => r.name)).toEqual(fakePeers.map((peer) => peer.name))
    })

    it("judges the subject's ratio against the reference's", () => {
      expect(report.verdict).toEqual({
        ok: true,
        subject: "wrapped effect",
        subjectRatio: 3,
        reference: "wrapped fn",
        referenceRatio: 7.5,
        text: "wrapped effect ×3.00 vs wrapped fn ×7.50 (each to its own bare call) — OK"
      })
      const tie = Harness.summarize(
        benchmark(fakePeers, { subject: "wrapped fn", reference: "wrapped effect" }),
        [
          samples("bare effect", [100]),
          samples("wrapped effect", [300]),
          samples("bare fn", [10]),
          samples("wrapped fn", [30])
        ],
        settings,
        machine
      )
      expect(tie.verdict?.ok).toBe(true)
      const worse = Harness.summarize(
        benchmark(fakePeers, { subject: "wrapped fn", reference: "wrapped effect" }),
        [
          samples("bare effect", [100]),
          samples("wrapped effect", [200]),
          samples("bare fn", [10]),
          samples("wrapped fn", [30])
        ],
        settings,
        machine
      )
      expect(worse.verdict).toMatchObject({ ok: false, subjectRatio: 3, referenceRatio: 2 })
      expect(worse.verdict?.text).toMatch(/— WORSE$/)
    })

    it("has no verdict when the benchmark asks for none", () => {
      const plain = Harness.summarize(
        benchmark(fakePeers),
        fakePeers.map((peer) => samples(peer.name, [1])),
        settings,
        machine
      )
      expect("verdict" in plain).toBe(false)
    })

    it("serializes to the documented JSON shape", () => {
      const json = JSON.parse(JSON.stringify(report)) as Report
      expect(Object.keys(json)).toEqual(["kind", "benchmark", "title", "rows", "settings", "machine", "verdict"])
      expect(json.kind).toBe("timing")
      expect(json.benchmark).toBe("fake")
      expect(json.settings).toEqual(settings)
      expect(json.machine).toEqual(machine)
      for (const jsonRow of json.rows) {
        expect(Object.keys(jsonRow).sort()).toEqual(
          [
            "bare",
            "baseline",
            "group",
            "iterations",
            "name",
            "nsPerCall",
            "p25",
            "p75",
            "ratioTo",
            "ratioToBare",
            "samples"
          ]
        )
        expect(typeof jsonRow.nsPerCall).toBe("number")
        expect(typeof jsonRow.ratioToBare).toBe("number")
      }
      expect(json.verdict?.ok).toBe(true)
    })

    it("puts peers without a group in one default group", () => {
      const peers: ReadonlyArray<Peer> = [{ name: "a", bare: true, run: idle }, { name: "b", run: idle }]
      const plain = Harness.summarize(benchmark(peers), [samples("a", [2]), samples("b", [5])], settings, machine)
      expect(plain.rows.map(({ group, ratioToBare }) => ({ group, ratioToBare }))).toEqual([
        { group: "default", ratioToBare: 1 },
        { group: "default", ratioToBare: 2.5 }
      ])
    })

    it("takes the ratio of a peer that names a baseline against that bare peer", () => {
      const peers: ReadonlyArray<Peer> = [
        ...fakePeers,
        { name: "refused effect", group: "refusal", baseline: "bare effect", run: idle },
        { name: "refused fn", group: "refusal", baseline: "bare fn", run: idle }
      ]
      const mixed = Harness.summarize(
        benchmark(peers),
        [
          samples("bare effect", [100]),
          samples("wrapped effect", [300]),
          samples("bare fn", [40]),
          samples("wrapped fn", [80]),
          samples("refused effect", [500]),
          samples("refused fn", [400])
        ],
        settings,
        machine
      )
      const rows = mixed.rows.filter((row) => row.group === "refusal")
      expect(rows.map(({ baseline, name, ratioToBare }) => ({ name, baseline, ratioToBare }))).toEqual([
        { name: "refused effect", baseline: "bare effect", ratioToBare: 5 },
        { name: "refused fn", baseline: "bare fn", ratioToBare: 10 }
      ])
      expect(rows[0]!.ratioTo).toEqual({ "bare effect": 5, "bare fn": 12.5 })
    })

    it("refuses a peer without samples", () => {
      expect(() => Harness.summarize(benchmark(fakePeers), [samples("bare effect", [1])], settings, machine))
        .toThrow(/no samples for "wrapped effect"/)
    })
  })

  describe("validate", () => {
    it("needs exactly one bare peer per group", () => {
      expect(() => Harness.validate(benchmark([{ name: "a", group: "g", run: idle }]))).toThrow(/exactly one bare/)
      expect(() =>
        Harness.validate(benchmark([
          { name: "a", bare: true, run: idle },
          { name: "b", bare: true, run: idle }
        ]))
      ).toThrow(/has 2/)
    })

    it("lets a group go without a bare peer only when each of its peers names one", () => {
      const bare: Peer = { name: "bare", bare: true, group: "g", run: idle }
      expect(() => Harness.validate(benchmark([bare, { name: "a", group: "h", baseline: "bare", run: idle }])))
        .not.toThrow()
      expect(() =>
        Harness.validate(benchmark([
          bare,
          { name: "a", group: "h", baseline: "bare", run: idle },
          { name: "b", group: "h", run: idle }
        ]))
      ).toThrow(/group "h" needs exactly one bare peer, has 0/)
      expect(() => Harness.validate(benchmark([bare, { name: "a", group: "h", baseline: "a", run: idle }])))
        .toThrow(/names the baseline "a", which is no bare peer/)
      expect(() => Harness.validate(benchmark([bare, { name: "a", group: "h", baseline: "nope", run: idle }])))
        .toThrow(/"nope"/)
      expect(() =>
        Harness.validate(benchmark([bare, { name: "b2", bare: true, group: "h", baseline: "bare", run: idle }]))
      ).not.toThrow()
      expect(() =>
        Harness.validate(benchmark([bare, { name: "b2", bare: true, group: "g", baseline: "bare", run: idle }]))
      ).toThrow(/exactly one bare/)
      expect(() =>
        Harness.validate(benchmark([
          bare,
          { name: "a", group: "g", run: idle },
          { name: "b2", bare: true, group: "h", baseline: "b2", run: idle }
        ]))
      ).toThrow(/the bare peer "b2" names a baseline of its own group/)
    })

    it("needs unique names and a verdict about real peers", () => {
      expect(() => Harness.validate(benchmark([{ name: "a", bare: true, run: idle }, { name: "a", run: idle }])))
        .toThrow(/two peers/)
      expect(() =>
        Harness.validate(benchmark([{ name: "a", bare: true, run: idle }], { subject: "a", reference: "nope" }))
      ).toThrow(/"nope"/)
    })
  })

  describe("calibrate", () => {
    it("scales the batch so one sample takes the target time", async () => {
      const { advance, clock } = fakeClock()
      const peer: Peer = { name: "p", bare: true, run: async (n) => advance(n * 250) }
      expect(await Harness.calibrate(peer, 10_000_000, clock)).toBe(40_000)
    })

    it("stops growing at the cap", async () => {
      const { clock } = fakeClock()
      const peer: Peer = { name: "p", bare: true, run: idle }
      expect(await Harness.calibrate(peer, 10_000_000, clock, 1000)).toBe(1000)
    })
  })

  describe("measure", () => {
    it("interleaves the peers, rotating the order, and reports per-call medians and ratios", async () => {
      const { advance, clock } = fakeClock()
      const calls: Array<string> = []
      const peer = (name: string, nanosPerCall: number, extra: Partial<Peer> = {}): Peer => ({
        name,
        ...extra,
        run: async (iterations) => {
          calls.push(name)
          advance(iterations * nanosPerCall)
        }
      })
      const peers = [peer("bare", 100, { bare: true }), peer("slow", 400), peer("slower", 1000)]
      const progress: Array<string> = []
      const report = await Harness.measure(benchmark(peers), settings, machine, {
        clock,
        onProgress: ({ done, phase }) => progress.push(`${phase}:${done}`)
      })

      expect(report.rows.map(({ iterations, name, nsPerCall, ratioToBare, samples }) => ({
        name,
        nsPerCall,
        ratioToBare,
        samples,
        iterations
      }))).toEqual([
        { name: "bare", nsPerCall: 100, ratioToBare: 1, samples: 5, iterations: 10_000 },
        { name: "slow", nsPerCall: 400, ratioToBare: 4, samples: 5, iterations: 2_500 },
        { name: "slower", nsPerCall: 1000, ratioToBare: 10, samples: 5, iterations: 1_000 }
      ])
      // The last (2 warm-up + 5 measured) rounds, after calibration.
      expect(calls.slice(-21)).toEqual([
        ...["bare", "slow", "slower"],
        ...["slow", "slower", "bare"],
        ...["bare", "slow", "slower"],
        ...["slow", "slower", "bare"],
        ...["slower", "bare", "slow"],
        ...["bare", "slow", "slower"],
        ...["slow", "slower", "bare"]
      ])
      expect(progress).toContain("calibrate:2")
      expect(progress).toContain("warm-up:1")
      expect(progress.at(-1)).toBe("measure:5")
      expect(report.machine).toEqual(machine)
    })

    it("runs the setup before the first call and its teardown after the last, even on failure", async () => {
      const events: Array<string> = []
      const setup = async () => {
        events.push("setup")
        return async () => void events.push("teardown")
      }
      const { advance, clock } = fakeClock()
      const peer: Peer = {
        name: "bare",
        bare: true,
        run: async (iterations) => {
          events.push("call")
          advance(iterations * 100)
        }
      }
      await Harness.measure({ ...benchmark([peer]), setup }, settings, machine, { clock })
      expect(events[0]).toBe("setup")
      expect(events.at(-1)).toBe("teardown")
      expect(events.filter((event) => event !== "call")).toEqual(["setup", "teardown"])

      events.length = 0
      const failing: Peer = { ...peer, run: () => Promise.reject(new Error("boom")) }
      await expect(Harness.measure({ ...benchmark([failing]), setup }, settings, machine, { clock }))
        .rejects.toThrow("boom")
      expect(events).toEqual(["setup", "teardown"])
    })
  })
})
