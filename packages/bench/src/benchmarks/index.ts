/**
 * Every benchmark `pnpm bench` knows, in the order `pnpm bench` runs them.
 */
import type { Benchmark } from "../Harness.js"
import type { Simulation } from "../Simulation.js"
import { benchmark as contention } from "./contention.js"
import { benchmark as http } from "./http.js"
import { benchmark as jobs } from "./jobs.js"
import { benchmark as policy } from "./policy.js"
import { benchmark as policyAnatomy } from "./policyAnatomy.js"
import { benchmark as retry } from "./retry.js"
import { benchmark as retryAnatomy } from "./retryAnatomy.js"
import { benchmark as storm } from "./storm.js"

export const all: ReadonlyArray<Benchmark | Simulation> = [
  retry,
  retryAnatomy,
  policy,
  policyAnatomy,
  http,
  storm,
  contention,
  jobs
]
