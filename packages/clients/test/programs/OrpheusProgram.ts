// #region orpheus-complete
import * as Orpheus from "@bulwark/clients/Orpheus"
import { FetchHttpClient } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"

// The servers come from ORPHEUS_BASE_URL, ORPHEUS_BRIDGE_URL, … (default: the seed's ports 2000-2005).
const OrpheusLive = Orpheus.layerConfig().pipe(Layer.provide(FetchHttpClient.layer))

export const main = Effect.gen(function*() {
  const orpheus = yield* Orpheus.Orpheus
  // One job id on every call: the server echoes it, every log line and span carries it.
  const clientJobId = "fanfare-1"
  const opening = yield* orpheus.generate({ maxTokens: 256, clientJobId })
  const closing = yield* orpheus.continue({ midi: opening.variations[0]!.midi, maxTokens: 128, clientJobId })
  const bridge = yield* orpheus.bridge({
    sectionA: opening.variations[0]!.midi,
    sectionB: closing.variations[0]!.midi,
    clientJobId
  })
  yield* Console.log(`a piece in three sections, the bridge ${bridge.variations[0]!.numTokens} tokens long`)
  return bridge
}).pipe(
  // A GPU that stayed busy past the total deadline: the seed's "GPU busy" with the job id.
  Effect.tapErrorTag("GpuBusy", (busy) => Console.error(busy.message)),
  Effect.provide(OrpheusLive)
)

if (process.argv[1] === import.meta.filename) NodeRuntime.runMain(main)
// #endregion
