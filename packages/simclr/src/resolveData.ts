/**
 * What `--data` names, as a source: `synthetic[:count[:seed]]`, a glob, a CSV, an IDX or CIFAR file or
 * folder (detected), or a folder of images.
 *
 * @since 0.1.0
 */
import {
  type DataStreamError,
  DatasetNotFoundError,
  EmptyDatasetError,
  FASHION_MNIST_CLASSES,
  fromCifar,
  fromCsv,
  fromDirectory,
  fromGlob,
  fromIdx,
  InvalidOptionError,
  type Source,
  synthetic
} from "@simclr/data-stream"
import { Effect } from "effect"
import { open, readdir, stat } from "node:fs/promises"
import { basename, dirname, join } from "node:path"

/**
 * @category models
 * @since 0.1.0
 */
export interface DataSpecOptions {
  /** Which split of a dataset folder (IDX: `train` / `t10k` files; CIFAR: data batches / test batch). Default train. */
  readonly split?: "train" | "test"
  /** Image size the synthetic set is drawn at. */
  readonly imageSize: number
}

const firstBytes = (path: string, n: number): Promise<Uint8Array> =>
  open(path, "r").then(async (h) => {
    const buffer = new Uint8Array(n)
    await h.read(buffer, 0, n, 0)
    await h.close()
    return buffer
  })

const isIdx = async (path: string): Promise<boolean> => {
  const b = await firstBytes(path, 4)
  if (b[0] === 0x1f && b[1] === 0x8b) return /idx\d-ubyte/.test(basename(path))
  return b[0] === 0 && b[1] === 0 && b[2] === 0x08 && b[3]! >= 1 && b[3]! <= 4
}

/** The labels file next to an IDX images file (`…-images-idx3-ubyte…` → `…-labels-idx1-ubyte…`), if present. */
const labelsFor = async (imagesPath: string): Promise<string | undefined> => {
  const candidate = join(dirname(imagesPath), basename(imagesPath).replace("images-idx3", "labels-idx1"))
  return candidate !== imagesPath && (await stat(candidate).catch(() => undefined))?.isFile() === true ? candidate : undefined
}

/**
 * What is wrong with a path, in words, from the error a file-system call gave: "does not exist", "cannot
 * be read (permission denied)", …; other errors as their message.
 *
 * @category data
 * @since 0.1.0
 */
export const pathProblem = (error: unknown): string => {
  const code = (error as { code?: unknown } | undefined)?.code
  switch (code) {
    case "ENOENT":
      return "does not exist"
    case "ENOTDIR":
      return "does not exist (a part of the path is a file)"
    case "EACCES":
    case "EPERM":
      return "cannot be read (permission denied)"
    case "ELOOP":
      return "cannot be read (a loop of symbolic links)"
    case "EISDIR":
      return "is a folder, not a file"
    default:
      return error instanceof Error ? error.message : String(error)
  }
}

/** What `--data`, `--train` and `--test` take. */
const EXPECTED_DATA = "expected a folder of images (sub-folders = classes), a glob, a CSV list, an IDX or CIFAR file or folder, or synthetic[:count[:seed]]"

/** A file-system call on the data path; its failure names the path, the problem and what was expected. */
const onDataPath = <A>(spec: string, run: () => Promise<A>): Effect.Effect<A, DatasetNotFoundError> =>
  Effect.tryPromise({ try: run, catch: (e) => new DatasetNotFoundError({ path: spec, reason: `${pathProblem(e)}; ${EXPECTED_DATA}` }) })

/**
 * A source from a `--data` string. A path that does not exist or cannot be read is a
 * `DatasetNotFoundError` naming it and what was expected; a folder without images an `EmptyDatasetError`.
 *
 * @category data
 * @since 0.1.0
 */
export const resolveData = (spec: string, options: DataSpecOptions): Effect.Effect<Source, DataStreamError> =>
  Effect.gen(function*() {
    const split = options.split ?? "train"
    const synth = /^synthetic(?::(\d+))?(?::(\d+))?$/.exec(spec)
    if (synth !== null) {
      const size = synth[1] === undefined ? (split === "train" ? 5000 : 1000) : Number(synth[1])
      const seed = synth[2] === undefined ? (split === "train" ? 0 : 1) : Number(synth[2])
      return yield* Effect.try({ try: () => synthetic({ size, seed, imageSize: options.imageSize }), catch: (e) => e as InvalidOptionError })
    }
    if (/[*?[\]{}]/.test(spec)) return yield* fromGlob(spec)
    const info = yield* onDataPath(spec, () => stat(spec))
    if (info.isFile()) {
      if (spec.toLowerCase().endsWith(".csv")) return yield* fromCsv(spec)
      if (yield* onDataPath(spec, () => isIdx(spec))) {
        const labels = yield* Effect.promise(() => labelsFor(spec))
        return yield* fromIdx(spec, labels === undefined ? {} : { labels })
      }
      if (spec.toLowerCase().endsWith(".bin")) return yield* fromCifar(spec)
      return yield* new InvalidOptionError({ option: "data", reason: `${spec} is a file but not a CSV list, an IDX file or a CIFAR batch` })
    }
    const names = yield* onDataPath(spec, () => readdir(spec))
    const idx = names.find((n) => n.startsWith(split === "train" ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte"))
    if (idx !== undefined) {
      const imagesPath = join(spec, idx)
      const labels = yield* Effect.promise(() => labelsFor(imagesPath))
      // Fashion-MNIST's folder is named so (Debian: /usr/share/datasets/fashion-mnist).
      const classes = /fashion/i.test(spec) ? { classes: FASHION_MNIST_CLASSES } : {}
      return yield* fromIdx(imagesPath, labels === undefined ? classes : { labels, ...classes })
    }
    if (names.some((n) => /^(data_batch_\d+|test_batch|train|test)\.bin$/.test(n))) return yield* fromCifar(spec, { split })
    // A run folder (what --run and --out take) given as data holds no images: say what it is.
    const isRun = names.includes("config.json") && names.includes("checkpoints")
    return yield* fromDirectory(spec).pipe(Effect.mapError((e) =>
      e._tag === "EmptyDatasetError" && isRun ? new EmptyDatasetError({ source: spec, reason: `is a run folder (config.json and checkpoints/), not images; ${EXPECTED_DATA}` }) : e
    ))
  })
