/**
 * The Orpheus emulator's options checked, every default filled in.
 */
import * as Either from "effect/Either"
import type * as Emulator from "../Emulator.js"
import type * as Faults from "../Faults.js"
import type * as OrpheusEmulator from "../OrpheusEmulator.js"
import * as Checks from "./options.js"

/** The options, checked, with every default filled in. */
export interface Settings {
  readonly model: OrpheusEmulator.Model
  readonly service: string
  readonly capacity: number
  readonly busy: OrpheusEmulator.Busy
  readonly retryAfterSeconds: number
  readonly retryAfterMs: number | undefined
  readonly busyHint: "fixed" | "remaining"
  readonly serviceTime: Faults.Distribution
  readonly millisPerToken: number
  readonly seed: number
}

const busyModes: ReadonlyArray<OrpheusEmulator.Busy> = ["429", "429-no-retry-after", "503", "queue", "none"]

/** Every option checked, with its default; errors name the model's service (`orpheus-base`). */
export const settings = (
  options: OrpheusEmulator.Options,
  defaults: typeof OrpheusEmulator.defaults,
  services: typeof OrpheusEmulator.services
): Either.Either<Settings, Emulator.InvalidEmulatorOption> =>
  Either.gen(function*() {
    const model = options.model ?? defaults.model
    const service = services[model as OrpheusEmulator.Model] ?? "orpheus"
    const check = Checks.forService(service)
    if (!Object.hasOwn(services, model)) {
      return yield* check.refuse(
        "model",
        `must be one of ${Object.keys(services).join(", ")}, got ${JSON.stringify(model)}`
      )
    }
    return {
      model,
      service,
      capacity: yield* check.whole("capacity", options.capacity, defaults.capacity, 1),
      busy: yield* check.oneOf("busy", options.busy, defaults.busy, busyModes),
      retryAfterSeconds: yield* check.whole(
        "retryAfterSeconds",
        options.retryAfterSeconds,
        defaults.retryAfterSeconds,
        0
      ),
      retryAfterMs: options.retryAfterMs === undefined
        ? undefined
        : yield* check.whole("retryAfterMs", options.retryAfterMs, 0, 0),
      busyHint: yield* check.oneOf("busyHint", options.busyHint, "fixed", ["fixed", "remaining"]),
      serviceTime: yield* check.distribution("serviceTime", options.serviceTime, defaults.serviceTime),
      millisPerToken: yield* check.nonNegative("millisPerToken", options.millisPerToken, defaults.millisPerToken),
      seed: (yield* check.common(options)).seed
    }
  })
