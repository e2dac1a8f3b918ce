import * as Options from "@effect/cli/Options"
import * as Config from "effect/Config"
import * as Option from "effect/Option"
import * as StoreUrl from "../StoreUrl.js"

/**
 * `--store URL`, else `BULWARK_STORE`, else the default; read by
 * `StoreUrl.parse` in the handler, so a bad URL is a typed error that names
 * what is wrong.
 *
 * @internal
 */
export const store: Options.Options<string> = Options.text("store").pipe(
  Options.withPseudoName("URL"),
  Options.withDescription(
    `The job store: sqlite:path/to/jobs.db, sqlite:///absolute/path.db (PostgreSQL is not supported yet). ` +
      `Defaults to $${StoreUrl.envVar}, else ${StoreUrl.defaultUrl}.`
  ),
  Options.withFallbackConfig(Config.string(StoreUrl.envVar)),
  Options.withDefault(StoreUrl.defaultUrl)
)

/**
 * @internal
 */
export const json: Options.Options<boolean> = Options.boolean("json").pipe(
  Options.withDescription("Print one JSON document instead of a table.")
)

/**
 * A TCP port, 0 for any free one.
 *
 * @internal
 */
export const port = (description: string, fallback: number): Options.Options<number> =>
  Options.integer("port").pipe(
    Options.withPseudoName("N"),
    Options.filterMap(
      (port) => (port >= 0 && port <= 65535 ? Option.some(port) : Option.none()),
      "--port must be a whole number from 0 to 65535 (0: any free port)"
    ),
    Options.withDescription(description),
    Options.withDefault(fallback)
  )
