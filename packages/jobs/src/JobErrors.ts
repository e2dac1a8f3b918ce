/**
 * The failures of a job store, in a module of their own so the store
 * implementations can name them without importing the `JobStore` module that
 * builds them (re-exported there).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The store itself failed (the disk, the database, a corrupt row).
 *
 * @since 0.1.0
 * @category Errors
 */
export class StoreFailure extends Schema.TaggedError<StoreFailure>()("StoreFailure", {
  operation: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `job store failed in ${this.operation}: ${this.reason}`
  }
}

/**
 * @since 0.1.0
 * @category Errors
 */
export class JobNotFound extends Schema.TaggedError<JobNotFound>()("JobNotFound", {
  id: Schema.String
}) {
  override get message() {
    return `Job not found: ${this.id}`
  }
}

/**
 * A submission whose dedupe key belongs to a job that is not final, in mode `reject`.
 *
 * @since 0.1.0
 * @category Errors
 */
export class DuplicateJob extends Schema.TaggedError<DuplicateJob>()("DuplicateJob", {
  dedupeKey: Schema.String,
  existing: Schema.String
}) {
  override get message() {
    return `a job with dedupe key ${this.dedupeKey} is already ${this.existing}`
  }
}

/**
 * The caller no longer holds the job's lease (it expired and another worker
 * claimed the job, or the job was cancelled): what it wanted to write is
 * refused.
 *
 * @since 0.1.0
 * @category Errors
 */
export class LeaseLost extends Schema.TaggedError<LeaseLost>()("LeaseLost", {
  id: Schema.String,
  operation: Schema.String
}) {
  override get message() {
    return `lease of job ${this.id} lost before ${this.operation}`
  }
}

/**
 * `retry` was asked of a job that is not `failed` or `cancelled`: a job that
 * is queued, scheduled, running or retrying will run anyway, and a succeeded
 * job has its result.
 *
 * @since 0.1.0
 * @category Errors
 */
export class JobNotRetryable extends Schema.TaggedError<JobNotRetryable>()("JobNotRetryable", {
  id: Schema.String,
  state: Schema.String
}) {
  override get message() {
    return `job ${this.id} ${
      this.state === "succeeded" ? "has succeeded" : `is ${this.state}`
    }: only a failed or cancelled job can be retried`
  }
}
