/**
 * CIFAR-10 and CIFAR-100 in their binary version (`cifar-10-batches-bin`, `cifar-100-binary`).
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { readdir, readFile, stat } from "node:fs/promises"
import { join } from "node:path"
import { DatasetFormatError, DatasetNotFoundError, EmptyDatasetError, InvalidOptionError } from "./DataStreamError.ts"
import { fingerprintOf } from "./internal/fingerprint.ts"
import { type DatasetFile, readDatasetFile } from "./internal/readDatasetFile.ts"
import type { IndexedSource, RawImage } from "./Source.ts"

/**
 * CIFAR-10's class names, in label order (as in `batches.meta.txt`).
 *
 * @category constants
 * @since 0.1.0
 */
export const CIFAR10_CLASSES: ReadonlyArray<string> = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

const PIXELS = 32 * 32 * 3

/**
 * @category models
 * @since 0.1.0
 */
export interface CifarOptions {
  /** `"auto"` (default) tells CIFAR-10 (3,073-byte records) from CIFAR-100 (3,074) by the file size. */
  readonly variant?: "auto" | "cifar10" | "cifar100" | undefined
  /** CIFAR-100 only: the 100 `"fine"` labels (default) or the 20 `"coarse"` superclasses. */
  readonly labels?: "fine" | "coarse" | undefined
  /** When a folder is given: the `"train"` (default) or `"test"` files in it. */
  readonly split?: "train" | "test" | undefined
}

const variantOf = (size: number, option: CifarOptions["variant"], path: string): "cifar10" | "cifar100" => {
  const fits10 = size > 0 && size % (PIXELS + 1) === 0
  const fits100 = size > 0 && size % (PIXELS + 2) === 0
  const wanted = option ?? "auto"
  if (wanted === "cifar10" && fits10) return "cifar10"
  if (wanted === "cifar100" && fits100) return "cifar100"
  if (wanted === "auto" && fits10 !== fits100) return fits10 ? "cifar10" : "cifar100"
  const describe = `${size} bytes is ${fits10 ? "" : "not "}a whole number of CIFAR-10 records (3,073 bytes) and ${fits100 ? "" : "not "}of CIFAR-100 records (3,074 bytes)`
  if (wanted === "auto" && fits10 && fits100) {
    throw new InvalidOptionError({ option: "variant", reason: `${path}: ${describe}; pass variant: "cifar10" or "cifar100"` })
  }
  throw new DatasetFormatError({ path, reason: `${describe}${wanted === "auto" ? "" : ` (variant: "${wanted}")`}; truncated or not a CIFAR binary batch?` })
}

const lines = (path: string): Effect.Effect<Array<string> | undefined> =>
  Effect.promise(() =>
    readFile(path, "utf8").then(
      (t) => t.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== ""),
      () => undefined
    )
  )

const listFolder = (folder: string, split: "train" | "test"): Effect.Effect<Array<string>, DatasetNotFoundError | EmptyDatasetError> =>
  Effect.gen(function*() {
    const names = yield* Effect.tryPromise({ try: () => readdir(folder), catch: (e) => new DatasetNotFoundError({ path: folder, reason: String(e) }) })
    const wanted = split === "train" ? /^(data_batch_\d+|train)\.bin$/ : /^(test_batch|test)\.bin$/
    const files = names.filter((n) => wanted.test(n)).toSorted((a, b) => a.localeCompare(b, "en", { numeric: true }))
    if (files.length === 0) {
      return yield* new EmptyDatasetError({ source: folder, reason: `no CIFAR ${split} files (data_batch_N.bin / test_batch.bin for CIFAR-10, train.bin / test.bin for CIFAR-100)` })
    }
    return files.map((f) => join(folder, f))
  })

/**
 * Images and labels from CIFAR binary batch files, or from the folder holding them (its train or test
 * files). Class names come from `batches.meta.txt` / `fine_label_names.txt` / `coarse_label_names.txt`
 * next to the files when present. A file that is not a whole number of records fails with a
 * `DatasetFormatError` naming it.
 *
 * @category sources
 * @since 0.1.0
 */
export const fromCifar = (
  paths: string | ReadonlyArray<string>,
  options: CifarOptions = {}
): Effect.Effect<IndexedSource, DatasetNotFoundError | DatasetFormatError | EmptyDatasetError | InvalidOptionError> =>
  Effect.gen(function*() {
    const split = options.split ?? "train"
    if (!["train", "test"].includes(split)) return yield* new InvalidOptionError({ option: "split", reason: `got ${JSON.stringify(split)}; allowed: "train", "test"` })
    const labelKind = options.labels ?? "fine"
    if (!["fine", "coarse"].includes(labelKind)) return yield* new InvalidOptionError({ option: "labels", reason: `got ${JSON.stringify(labelKind)}; allowed: "fine", "coarse"` })
    const given = typeof paths === "string" ? [paths] : [...paths]
    if (given.length === 0) return yield* new InvalidOptionError({ option: "paths", reason: "no files given" })
    const files: Array<string> = []
    for (const p of given) {
      const info = yield* Effect.tryPromise({ try: () => stat(p), catch: (e) => new DatasetNotFoundError({ path: p, reason: String(e) }) })
      files.push(...(info.isDirectory() ? yield* listFolder(p, split) : [p]))
    }
    const parts: Array<DatasetFile> = []
    let variant: "cifar10" | "cifar100" | undefined
    for (const path of files) {
      const file = yield* readDatasetFile(path)
      const v = yield* Effect.try({ try: () => variantOf(file.bytes.length, options.variant, path), catch: (e) => e as DatasetFormatError | InvalidOptionError })
      if (variant !== undefined && v !== variant) return yield* new DatasetFormatError({ path, reason: `is ${v} but earlier files are ${variant}` })
      variant = v
      parts.push(file)
    }
    const cifar100 = variant === "cifar100"
    const record = PIXELS + (cifar100 ? 2 : 1)
    const labelOffset = cifar100 ? (labelKind === "coarse" ? 0 : 1) : 0
    const counts = parts.map((p) => p.bytes.length / record)
    const starts = counts.map((_c, i) => counts.slice(0, i).reduce((a, b) => a + b, 0))
    const size = counts.reduce((a, b) => a + b, 0)
    const folder = join(files[0]!, "..")
    const named = cifar100 ? yield* lines(join(folder, `${labelKind}_label_names.txt`)) : yield* lines(join(folder, "batches.meta.txt"))
    const count = cifar100 ? (labelKind === "coarse" ? 20 : 100) : 10
    const classes = named?.length === count ? named : cifar100 ? Array.from({ length: count }, (_v, i) => String(i)) : CIFAR10_CLASSES
    const locate = (index: number): { part: number; bytes: Uint8Array; offset: number } => {
      let part = parts.length - 1
      while (starts[part]! > index) part--
      return { part, bytes: parts[part]!.bytes, offset: (index - starts[part]!) * record }
    }
    for (let i = 0; i < size; i++) {
      const { part, bytes, offset } = locate(i)
      const label = bytes[offset + labelOffset]!
      if (label >= count) {
        return yield* new DatasetFormatError({ path: files[part]!, reason: `record ${offset / record} has label ${label}; ${variant} ${labelKind} labels are 0–${count - 1}` })
      }
    }
    return {
      _tag: "IndexedSource",
      name: `${variant} ${given.join(", ")} (${size} images, ${count} classes)`,
      size,
      classes,
      item: (i) => {
        const { part, bytes, offset } = locate(i)
        const planes = offset + (cifar100 ? 2 : 1)
        return {
          id: `${files[part]}#${offset / record}`,
          label: bytes[offset + labelOffset]!,
          image: { kind: "lazy", render: () => planarToInterleaved(bytes, planes) }
        }
      },
      fingerprint: () => fingerprintOf(variant!, labelKind, ...parts.flatMap((p) => [p.path, p.size, p.mtimeMs]))
    } satisfies IndexedSource
  })

/** CIFAR stores each image as three 32×32 planes (R, G, B); this interleaves them to HWC. */
const planarToInterleaved = (bytes: Uint8Array, start: number): RawImage => {
  const pixels = new Uint8Array(PIXELS)
  const plane = 32 * 32
  for (let p = 0; p < plane; p++) {
    pixels[3 * p] = bytes[start + p]!
    pixels[3 * p + 1] = bytes[start + plane + p]!
    pixels[3 * p + 2] = bytes[start + 2 * plane + p]!
  }
  return { pixels, width: 32, height: 32, channels: 3 }
}
