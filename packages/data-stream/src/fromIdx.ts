/**
 * IDX files, the format of MNIST and Fashion-MNIST, raw or gzipped (detected by content).
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { DatasetFormatError, type DatasetNotFoundError, InvalidOptionError } from "./DataStreamError.ts"
import { fingerprintOf } from "./internal/fingerprint.ts"
import { readDatasetFile } from "./internal/readDatasetFile.ts"
import type { IndexedSource } from "./Source.ts"

/**
 * Fashion-MNIST's class names, in label order.
 *
 * @category constants
 * @since 0.1.0
 */
export const FASHION_MNIST_CLASSES: ReadonlyArray<string> = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot"
]

/**
 * MNIST's class names: the digits.
 *
 * @category constants
 * @since 0.1.0
 */
export const MNIST_CLASSES: ReadonlyArray<string> = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]

/** A parsed IDX array of unsigned bytes. */
export interface IdxArray {
  readonly shape: ReadonlyArray<number>
  readonly data: Uint8Array
}

/**
 * Parses an IDX file's bytes: magic `0 0 0x08 ndim`, then ndim big-endian uint32 sizes, then the data.
 * Only unsigned-byte data (type 0x08, what MNIST-style datasets use) is accepted. The file size must
 * equal what the header says.
 *
 * @category parsing
 * @since 0.1.0
 */
export const parseIdx = (bytes: Uint8Array, path: string): IdxArray => {
  const fail = (reason: string): never => {
    throw new DatasetFormatError({ path, reason })
  }
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) fail(`not an IDX file (the first two bytes are not zero; ${bytes.length} bytes)`)
  const type = bytes[2]!
  const ndim = bytes[3]!
  if (type !== 0x08) fail(`IDX data type 0x${type.toString(16).padStart(2, "0")} is not supported (only unsigned bytes, 0x08)`)
  if (ndim < 1 || ndim > 4) fail(`IDX header declares ${ndim} dimensions; expected 1 to 4`)
  const headerSize = 4 + 4 * ndim
  if (bytes.length < headerSize) fail(`truncated header: ${bytes.length} bytes, the header alone needs ${headerSize}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
  const shape = Array.from({ length: ndim }, (_v, i) => view.getUint32(4 + 4 * i, false))
  const expected = headerSize + shape.reduce((a, b) => a * b, 1)
  if (bytes.length !== expected) {
    fail(`the header declares shape [${shape.join(", ")}], which needs ${expected} bytes, but the file has ${bytes.length}${bytes.length < expected ? " (truncated?)" : ""}`)
  }
  return { shape, data: bytes.subarray(headerSize) }
}

/**
 * @category models
 * @since 0.1.0
 */
export interface IdxOptions {
  /** The labels file (IDX, one dimension, one byte per image). Without it the images are unlabeled. */
  readonly labels?: string | undefined
  /** Class names, label order, e.g. `FASHION_MNIST_CLASSES`. Default: `"0"` … the largest label. */
  readonly classes?: ReadonlyArray<string> | undefined
}

/**
 * Images from an IDX file (shape [n, rows, cols] for gray, or [n, rows, cols, 1 | 3]), gzipped or not,
 * with labels from a second IDX file. Wrong sizes and mismatched counts fail with a
 * `DatasetFormatError` naming the file.
 *
 * **Example** (Fashion-MNIST from Debian's dataset-fashion-mnist package)
 * ```ts
 * const train = fromIdx("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", {
 *   labels: "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz",
 *   classes: FASHION_MNIST_CLASSES
 * })
 * ```
 *
 * @category sources
 * @since 0.1.0
 */
export const fromIdx = (
  imagesPath: string,
  options: IdxOptions = {}
): Effect.Effect<IndexedSource, DatasetNotFoundError | DatasetFormatError | InvalidOptionError> =>
  Effect.gen(function*() {
    const imagesFile = yield* readDatasetFile(imagesPath)
    const images = yield* Effect.try({ try: () => parseIdx(imagesFile.bytes, imagesPath), catch: (e) => e as DatasetFormatError })
    const [n, rows, cols, channels = 1] = images.shape as [number, number?, number?, number?]
    if (rows === undefined || cols === undefined || !(channels === 1 || channels === 3)) {
      return yield* new DatasetFormatError({ path: imagesPath, reason: `shape [${images.shape.join(", ")}] is not [n, rows, cols] or [n, rows, cols, 1 | 3]` })
    }
    let labels: Uint8Array | undefined
    let labelsFile: { size: number; mtimeMs: number } | undefined
    if (options.labels !== undefined) {
      const file = yield* readDatasetFile(options.labels)
      const parsed = yield* Effect.try({ try: () => parseIdx(file.bytes, options.labels!), catch: (e) => e as DatasetFormatError })
      if (parsed.shape.length !== 1 || parsed.shape[0] !== n) {
        return yield* new DatasetFormatError({
          path: options.labels,
          reason: `labels have shape [${parsed.shape.join(", ")}] but ${imagesPath} holds ${n} images; expected [${n}]`
        })
      }
      labels = parsed.data
      labelsFile = file
    }
    const maxLabel = labels === undefined ? -1 : labels.reduce((a, b) => Math.max(a, b), 0)
    const classes = labels === undefined ? undefined : options.classes ?? Array.from({ length: maxLabel + 1 }, (_v, i) => String(i))
    if (classes !== undefined && maxLabel >= classes.length) {
      return yield* new InvalidOptionError({ option: "classes", reason: `${classes.length} names given but the labels go up to ${maxLabel}` })
    }
    const pixels = rows * cols * channels
    return {
      _tag: "IndexedSource",
      name: `idx ${imagesPath} (${n} images ${rows}×${cols}${labels === undefined ? "" : `, ${classes!.length} classes`})`,
      size: n,
      classes,
      item: (i) => ({
        id: `${imagesPath}#${i}`,
        label: labels?.[i],
        image: { kind: "raw", pixels: images.data.subarray(i * pixels, (i + 1) * pixels), height: rows, width: cols, channels: channels as 1 | 3 }
      }),
      fingerprint: () => fingerprintOf("idx", imagesPath, imagesFile.size, imagesFile.mtimeMs, options.labels ?? "", labelsFile?.size ?? -1, labelsFile?.mtimeMs ?? -1)
    } satisfies IndexedSource
  })
