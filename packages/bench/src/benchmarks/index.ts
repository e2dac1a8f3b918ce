/**
 * Every benchmark `pnpm bench` knows, in the order `pnpm bench` runs them.
 */
import type { Benchmark } from "../Harness.js"
import { benchmark as retry } from "./retry.js"
import { benchmark as retryAnatomy } from "./retryAnatomy.js"

export const all: ReadonlyArray<Benchmark> = [retry, retryAnatomy]
