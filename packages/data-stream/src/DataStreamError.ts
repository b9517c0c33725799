/**
 * The typed failures of @simclr/data-stream. Each is a `Data.TaggedError`, so Effect users handle them
 * with `Effect.catchTag("DatasetNotFoundError", …)`; users of `toAsyncIterable` receive them as rejected
 * promises whose `message` says what went wrong and where.
 *
 * One bad image is not a failure of the stream: it becomes an `ImageDecodeError` carried by the batch
 * it was skipped from (`batch.skipped`) and counted in `batch.stats`. Only when more than
 * `maxFailureFraction` of the images fail does the stream stop, with a `TooManyFailuresError`.
 *
 * @since 0.1.0
 */
import { Data } from "effect"

/**
 * A path given to a source does not exist or cannot be read.
 *
 * @category errors
 * @since 0.1.0
 */
export class DatasetNotFoundError extends Data.TaggedError("DatasetNotFoundError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `dataset not found: ${this.path} (${this.reason})`
  }
}

/**
 * A source holds no images (an empty folder, a glob that matches nothing, an empty CSV).
 *
 * @category errors
 * @since 0.1.0
 */
export class EmptyDatasetError extends Data.TaggedError("EmptyDatasetError")<{
  readonly source: string
  readonly reason: string
}> {
  override get message(): string {
    return `empty dataset: ${this.source} (${this.reason})`
  }
}

/**
 * A dataset file is not what it claims to be: an IDX file whose size disagrees with its header, a CIFAR
 * batch whose size is not a whole number of records, a CSV without a path column, …
 *
 * @category errors
 * @since 0.1.0
 */
export class DatasetFormatError extends Data.TaggedError("DatasetFormatError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `bad dataset file ${this.path}: ${this.reason}`
  }
}

/**
 * One image could not be read or decoded (corrupt, truncated, empty, not an image, over the pixel
 * limit, vanished since the scan). Streams skip such images and report them; they are never fatal
 * on their own.
 *
 * @category errors
 * @since 0.1.0
 */
export class ImageDecodeError extends Data.TaggedError("ImageDecodeError")<{
  /** The file path, or `<source>#<index>` for images that are not files. */
  readonly id: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot decode ${this.id}: ${this.reason}`
  }
}

/**
 * More than `maxFailureFraction` of the attempted images failed to decode: the data is probably not
 * what the run expects (a wrong folder, a disk problem), so the stream stops instead of training on
 * what is left.
 *
 * @category errors
 * @since 0.1.0
 */
export class TooManyFailuresError extends Data.TaggedError("TooManyFailuresError")<{
  readonly attempted: number
  readonly failed: number
  readonly maxFailureFraction: number
  /** The first few failures, with their paths and reasons. */
  readonly examples: ReadonlyArray<ImageDecodeError>
}> {
  override get message(): string {
    const shown = this.examples.map((e) => `\n  ${e.id}: ${e.reason}`).join("")
    return `${this.failed} of ${this.attempted} images failed to decode, more than maxFailureFraction = ${this.maxFailureFraction}; first failures:${shown}`
  }
}

/**
 * An option has a value outside what it allows. The message names the option and the allowed values.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidOptionError extends Data.TaggedError("InvalidOptionError")<{
  readonly option: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.option}: ${this.reason}`
  }
}

/**
 * The decode cache file could not be created, read or written.
 *
 * @category errors
 * @since 0.1.0
 */
export class DecodeCacheError extends Data.TaggedError("DecodeCacheError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `decode cache ${this.path}: ${this.reason}`
  }
}

/**
 * Every failure a data stream can end with.
 *
 * @category errors
 * @since 0.1.0
 */
export type DataStreamError =
  | DatasetNotFoundError
  | EmptyDatasetError
  | DatasetFormatError
  | TooManyFailuresError
  | InvalidOptionError
  | DecodeCacheError

/** A short reason from anything thrown. */
export const reasonOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))
