/**
 * From a source to batches of decoded images: seeded per-epoch shuffle, bounded-concurrency decoding,
 * batching, and a bounded prefetch buffer with backpressure. Batches hold typed arrays; tensors are
 * made only by the consumer (`toTensors`, `twoViewBatches`).
 *
 * @since 0.1.0
 */
import { Effect, Result, Stream } from "effect"
import {
  type DataStreamError,
  EmptyDatasetError,
  DatasetFormatError,
  ImageDecodeError,
  InvalidOptionError,
  reasonOf,
  TooManyFailuresError
} from "./DataStreamError.ts"
import { DEFAULT_MAX_PIXELS, decodeImage, type Fit } from "./decodeImage.ts"
import { type DecodeCache, openDecodeCache } from "./internal/DecodeCache.ts"
import { fingerprintOf } from "./internal/fingerprint.ts"
import { Random } from "@simclr/core"
import type { RawImage, Source, SourceItem, SourceLike, StreamSource } from "./Source.ts"

/**
 * Where a stream stands: resuming with `start: position` yields exactly the batches that would have
 * followed. Every batch carries the position after it.
 *
 * @category models
 * @since 0.1.0
 */
export interface StreamPosition {
  readonly epoch: number
  /** Items of this epoch's (shuffled) order already consumed. */
  readonly index: number
  readonly seed: number
}

/**
 * Counts since the stream started.
 *
 * @category models
 * @since 0.1.0
 */
export interface StreamStats {
  /** Images the stream tried to load. */
  readonly attempted: number
  /** Images loaded (decoded now or read from the cache). */
  readonly loaded: number
  /** Images skipped because they could not be decoded. */
  readonly skipped: number
  /** Images (or known failures) read from the decode cache instead of decoded. */
  readonly fromCache: number
}

/**
 * A batch of decoded images, still plain bytes.
 *
 * @category models
 * @since 0.1.0
 */
export interface ImageBatch {
  /** `size × height × width × 3` RGB bytes, row-major (NHWC). */
  readonly images: Uint8Array
  readonly size: number
  readonly height: number
  readonly width: number
  /** The class index per image, −1 for an unlabeled image; `undefined` when the source has no labels. */
  readonly labels: Int32Array | undefined
  /** The source's class names, when it has labels. */
  readonly classes: ReadonlyArray<string> | undefined
  /** Where each image came from (file path or `<source>#<index>`). */
  readonly ids: ReadonlyArray<string>
  readonly epoch: number
  /** The epoch-order index of this batch's first item: with `epoch` and the seed, names the batch. */
  readonly start: number
  /** The position right after this batch: pass it as `start` to resume. */
  readonly position: StreamPosition
  /** Images skipped while this batch was assembled, with their paths and reasons. */
  readonly skipped: ReadonlyArray<ImageDecodeError>
  readonly stats: StreamStats
}

/**
 * @category models
 * @since 0.1.0
 */
export interface ImageBatchOptions {
  /** Images per batch, ≥ 1. */
  readonly batchSize: number
  /** Decoded size: one number for square images, or [height, width]. */
  readonly imageSize: number | readonly [height: number, width: number]
  /** How images reach `imageSize`; default `"cover"` (see `Fit`). */
  readonly fit?: Fit | undefined
  /** Passes over the data, ≥ 1 or `Infinity`; default 1. */
  readonly epochs?: number | undefined
  /** Seeds the shuffles; default 0. */
  readonly seed?: number | undefined
  /** Shuffle every epoch (a seeded permutation, or a shuffle buffer for stream sources); default true. */
  readonly shuffle?: boolean | undefined
  /** Stream sources only: the shuffle buffer's size in images; default 1,000. */
  readonly shuffleBuffer?: number | undefined
  /** Drop an epoch's last batch when it is smaller than `batchSize`; default false. */
  readonly dropRemainder?: boolean | undefined
  /** Batches decoded ahead of the consumer, ≥ 1; default 2. The producer waits while the buffer is full. */
  readonly prefetch?: number | undefined
  /** Images decoded at once, ≥ 1; default 4. */
  readonly concurrency?: number | undefined
  /** Resume from this position (from a batch's `position`); default the start of epoch 0. */
  readonly start?: StreamPosition | undefined
  /**
   * Path of a decode cache file (indexed sources only). The first pass writes each decoded, resized
   * image to it; later passes (and later runs with the same source and options) read it instead of
   * decoding. Rebuilt when the source or the decode options change.
   */
  readonly cache?: string | undefined
  /** Stop with `TooManyFailuresError` when more than this fraction of images fails; default 0.1. */
  readonly maxFailureFraction?: number | undefined
  /** Pixel limit per image before decoding; default 100,000,000. */
  readonly maxPixels?: number | undefined
}

/** Failure fractions are checked once this many images were attempted, and at the end of every epoch. */
const FAILURE_CHECK_AFTER = 50
const EXAMPLES = 5

interface Resolved {
  readonly batchSize: number
  readonly height: number
  readonly width: number
  readonly fit: Fit
  readonly epochs: number
  readonly seed: number
  readonly shuffle: boolean
  readonly bufferSize: number
  readonly dropRemainder: boolean
  readonly prefetch: number
  readonly concurrency: number
  readonly start: StreamPosition
  readonly cache: string | undefined
  readonly maxFailureFraction: number
  readonly maxPixels: number
}

const isCount = (x: unknown, min: number): x is number => typeof x === "number" && Number.isInteger(x) && x >= min

const bad = (option: string, allowed: string, value: unknown) =>
  Effect.fail(new InvalidOptionError({ option, reason: `got ${JSON.stringify(value) ?? String(value)}; allowed: ${allowed}` }))

/** Checks every option, failing with one that names the option and what it allows. */
export const resolveOptions = (options: ImageBatchOptions): Effect.Effect<Resolved, InvalidOptionError> =>
  Effect.suspend(() => {
    const o = options
    if (!isCount(o.batchSize, 1)) return bad("batchSize", "an integer ≥ 1", o.batchSize)
    const size = o.imageSize
    const [height, width] = typeof size === "number" ? [size, size] : Array.isArray(size) && size.length === 2 ? size : [Number.NaN, Number.NaN]
    if (!isCount(height, 1) || !isCount(width, 1)) return bad("imageSize", "an integer ≥ 1 or [height, width] of integers ≥ 1", size)
    const fit = o.fit ?? "cover"
    if (!["cover", "fill", "contain"].includes(fit)) return bad("fit", "\"cover\", \"fill\", \"contain\"", fit)
    const epochs = o.epochs ?? 1
    if (!(isCount(epochs, 1) || epochs === Infinity)) return bad("epochs", "an integer ≥ 1 or Infinity", epochs)
    const start = o.start ?? { epoch: 0, index: 0, seed: o.seed ?? 0 }
    const seed = o.seed ?? start.seed
    if (!Number.isSafeInteger(seed) || seed < 0) return bad("seed", "an integer ≥ 0", seed)
    if (!isCount(start.epoch, 0) || !isCount(start.index, 0)) return bad("start", "{ epoch, index, seed } from a batch's position", start)
    if (start.seed !== seed) return bad("start.seed", `the stream's seed (${seed}): a position only resumes the stream it came from`, start.seed)
    if (start.epoch > epochs || (start.epoch === epochs && start.index > 0)) {
      return bad("start", `a position within the ${epochs} epochs (the last batch's position, { epoch: ${epochs}, index: 0 }, resumes to an empty stream)`, start)
    }
    const bufferSize = o.shuffleBuffer ?? 1000
    if (!isCount(bufferSize, 1)) return bad("shuffleBuffer", "an integer ≥ 1", bufferSize)
    const prefetch = o.prefetch ?? 2
    if (!isCount(prefetch, 1)) return bad("prefetch", "an integer ≥ 1", prefetch)
    const concurrency = o.concurrency ?? 4
    if (!isCount(concurrency, 1)) return bad("concurrency", "an integer ≥ 1", concurrency)
    const maxFailureFraction = o.maxFailureFraction ?? 0.1
    if (!(typeof maxFailureFraction === "number" && maxFailureFraction >= 0 && maxFailureFraction <= 1)) return bad("maxFailureFraction", "a number in [0, 1]", maxFailureFraction)
    const maxPixels = o.maxPixels ?? DEFAULT_MAX_PIXELS
    if (!isCount(maxPixels, 1)) return bad("maxPixels", "an integer ≥ 1", maxPixels)
    if (o.cache !== undefined && (typeof o.cache !== "string" || o.cache === "")) return bad("cache", "a file path", o.cache)
    return Effect.succeed({
      batchSize: o.batchSize,
      height,
      width,
      fit,
      epochs,
      seed,
      shuffle: o.shuffle ?? true,
      bufferSize,
      dropRemainder: o.dropRemainder ?? false,
      prefetch,
      concurrency,
      start,
      cache: o.cache,
      maxFailureFraction,
      maxPixels
    })
  })

/**
 * The order of an epoch: a seeded Fisher–Yates permutation of 0 … size − 1, a function of (seed, epoch)
 * only.
 *
 * @category shuffling
 * @since 0.1.0
 */
export const epochPermutation = (size: number, seed: number, epoch: number): Uint32Array => Uint32Array.from(new Random(seed, epoch).permutation(size))

/**
 * Reads `items` through a buffer of `capacity`, emitting a random element of it each time a new one
 * arrives (the tf.data shuffle buffer), seeded.
 *
 * @category shuffling
 * @since 0.1.0
 */
export async function* shuffleBuffer<A>(items: AsyncIterable<A> | Iterable<A>, capacity: number, random: Random): AsyncGenerator<A> {
  const buffer: Array<A> = []
  for await (const item of items) {
    if (buffer.length < capacity) buffer.push(item)
    else {
      const j = random.int(capacity)
      yield buffer[j]!
      buffer[j] = item
    }
  }
  while (buffer.length > 0) {
    const j = random.int(buffer.length)
    yield buffer[j]!
    buffer[j] = buffer[buffer.length - 1]!
    buffer.pop()
  }
}

interface Loaded {
  readonly ordinal: number
  readonly id: string
  readonly label: number | undefined
  readonly result: Result.Result<RawImage, ImageDecodeError>
  readonly cached: boolean
}

const END = Symbol("end of epoch")

/**
 * A stream of decoded image batches from any source.
 *
 * **Example**
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { fromDirectory, imageBatches } from "@simclr/data-stream"
 *
 * const batches = imageBatches(fromDirectory("photos/"), { batchSize: 64, imageSize: 96, epochs: 10, seed: 1 })
 * await Effect.runPromise(Stream.runForEach(batches, (b) => Effect.log(b.epoch, b.size, b.stats)))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const imageBatches = <E = never>(source: SourceLike<E>, options: ImageBatchOptions): Stream.Stream<ImageBatch, E | DataStreamError> =>
  Stream.unwrap(
    Effect.gen(function*() {
      const o = yield* resolveOptions(options)
      const src: Source = Effect.isEffect(source) ? yield* (source as Effect.Effect<Source, E>) : (source as Source)
      if (src._tag === "IndexedSource" && src.size === 0) return yield* new EmptyDatasetError({ source: src.name, reason: "no images" })
      if (src._tag === "StreamSource" && o.cache !== undefined) {
        return yield* new InvalidOptionError({ option: "cache", reason: `needs an indexed source (folder, CSV, IDX, CIFAR, array, synthetic); ${src.name} is read front to back` })
      }
      if (src._tag === "StreamSource" && !src.replayable && o.epochs > 1) {
        return yield* new InvalidOptionError({ option: "epochs", reason: `${src.name} is a one-shot iterable and can be read once; pass a function returning a fresh iterable for ${o.epochs} epochs` })
      }
      const cache = src._tag === "IndexedSource" && o.cache !== undefined
        ? yield* openDecodeCache(o.cache, {
          height: o.height,
          width: o.width,
          size: src.size,
          key: fingerprintOf(src.fingerprint(), o.height, o.width, o.fit, o.maxPixels)
        })
        : undefined
      const state = new Counters(o.maxFailureFraction)
      const epochs = o.epochs === Infinity
        ? Stream.iterate(o.start.epoch, (e) => e + 1)
        : Stream.range(o.start.epoch, o.epochs - 1, 1)
      return epochs.pipe(
        Stream.flatMap((epoch) => epochBatches(src, o, epoch, epoch === o.start.epoch ? o.start.index : 0, cache, state)),
        Stream.buffer({ capacity: o.prefetch, strategy: "suspend" })
      )
    })
  )

class Counters {
  attempted = 0
  loaded = 0
  skipped = 0
  fromCache = 0
  readonly examples: Array<ImageDecodeError> = []
  readonly warned = new Set<string>()
  readonly maxFailureFraction: number
  constructor(maxFailureFraction: number) {
    this.maxFailureFraction = maxFailureFraction
  }
  snapshot(): StreamStats {
    return { attempted: this.attempted, loaded: this.loaded, skipped: this.skipped, fromCache: this.fromCache }
  }
  check(force: boolean): Effect.Effect<void, TooManyFailuresError> {
    if ((force || this.attempted >= FAILURE_CHECK_AFTER) && this.skipped > this.maxFailureFraction * this.attempted) {
      return Effect.fail(new TooManyFailuresError({ attempted: this.attempted, failed: this.skipped, maxFailureFraction: this.maxFailureFraction, examples: [...this.examples] }))
    }
    return Effect.void
  }
}

const itemsOf = (src: Source, o: Resolved, epoch: number, from: number): Stream.Stream<{ ordinal: number; index: number; item: SourceItem }, DatasetFormatError> => {
  if (src._tag === "IndexedSource") {
    if (from >= src.size) return Stream.empty
    const order = o.shuffle ? epochPermutation(src.size, o.seed, epoch) : undefined
    return Stream.range(from, src.size - 1, 1).pipe(
      Stream.map((ordinal) => {
        const index = order === undefined ? ordinal : order[ordinal]!
        return { ordinal, index, item: src.item(index) }
      })
    )
  }
  return streamItems(src, o, epoch, from)
}

const streamItems = (src: StreamSource, o: Resolved, epoch: number, from: number) =>
  Stream.suspend(() => {
    const items = src.open()
    const ordered = o.shuffle ? shuffleBuffer(items, o.bufferSize, new Random(o.seed, epoch)) : items
    const asAsync = Symbol.asyncIterator in ordered ? ordered : (async function*() { yield* ordered })()
    return Stream.fromAsyncIterable(asAsync, (error) => new DatasetFormatError({ path: src.name, reason: reasonOf(error) })).pipe(
      Stream.zipWithIndex,
      Stream.drop(from),
      Stream.map(([item, ordinal]) => ({ ordinal, index: ordinal, item }))
    )
  })

const load = (
  item: SourceItem,
  index: number,
  o: Resolved,
  cache: DecodeCache | undefined
): Effect.Effect<{ result: Result.Result<RawImage, ImageDecodeError>; cached: boolean }, DataStreamError> =>
  Effect.gen(function*() {
    if (cache?.has(index)) {
      const hit = yield* cache.read(index, item.id)
      if (hit instanceof ImageDecodeError) return { result: Result.fail(hit), cached: true }
      if (hit !== undefined) return { result: Result.succeed(hit), cached: true }
    }
    const result = yield* Effect.result(decodeImage(item.image, item.id, { height: o.height, width: o.width, fit: o.fit, maxPixels: o.maxPixels }))
    if (cache !== undefined) yield* cache.write(index, Result.isSuccess(result) ? result.success : result.failure)
    return { result, cached: false }
  })

interface Assembly {
  images: Uint8Array
  labels: Int32Array
  ids: Array<string>
  count: number
  start: number
  skipped: Array<ImageDecodeError>
}

const epochBatches = (
  src: Source,
  o: Resolved,
  epoch: number,
  from: number,
  cache: DecodeCache | undefined,
  state: Counters
): Stream.Stream<ImageBatch, DataStreamError> => {
  const pixels = o.height * o.width * 3
  const labeled = src.classes !== undefined
  const fresh = (start: number): Assembly => ({
    images: new Uint8Array(o.batchSize * pixels),
    labels: new Int32Array(o.batchSize),
    ids: [],
    count: 0,
    start,
    skipped: []
  })
  const emit = (a: Assembly, position: StreamPosition): ImageBatch => ({
    images: a.count === o.batchSize ? a.images : a.images.slice(0, a.count * pixels),
    size: a.count,
    height: o.height,
    width: o.width,
    labels: labeled ? (a.count === o.batchSize ? a.labels : a.labels.slice(0, a.count)) : undefined,
    classes: src.classes,
    ids: a.ids,
    epoch,
    start: a.start,
    position,
    skipped: a.skipped,
    stats: state.snapshot()
  })
  const loaded = itemsOf(src, o, epoch, from).pipe(
    Stream.mapEffect(
      ({ ordinal, index, item }) => Effect.map(load(item, index, o, cache), (r): Loaded => ({ ordinal, id: item.id, label: item.label, ...r })),
      { concurrency: o.concurrency }
    )
  )
  return Stream.concat(loaded, Stream.succeed(END)).pipe(
    Stream.mapAccumEffect(
      () => fresh(from),
      (a, next: Loaded | typeof END): Effect.Effect<readonly [Assembly, ReadonlyArray<ImageBatch>], DataStreamError> => {
        if (next === END) {
          const out = a.count > 0 && !o.dropRemainder ? [emit(a, { epoch: epoch + 1, index: 0, seed: o.seed })] : []
          return Effect.as(state.check(true), [a, out] as const)
        }
        state.attempted++
        if (next.cached) state.fromCache++
        if (Result.isFailure(next.result)) {
          const error = next.result.failure
          state.skipped++
          if (state.examples.length < EXAMPLES) state.examples.push(error)
          a.skipped.push(error)
          const warn = state.warned.has(error.id) ? Effect.void : Effect.logWarning(`skipped ${error.id}: ${error.reason}`)
          if (state.warned.size < 10_000) state.warned.add(error.id)
          return Effect.as(Effect.andThen(warn, state.check(false)), [a, []] as const)
        }
        state.loaded++
        a.images.set(next.result.success.pixels, a.count * pixels)
        a.labels[a.count] = next.label ?? -1
        a.ids.push(next.id)
        a.count++
        if (a.count < o.batchSize) return Effect.succeed([a, []] as const)
        const batch = emit(a, { epoch, index: next.ordinal + 1, seed: o.seed })
        return Effect.succeed([fresh(next.ordinal + 1), [batch]] as const)
      }
    )
  )
}
