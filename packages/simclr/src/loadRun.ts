/**
 * A pre-training run folder back as a model: its `config.json` rebuilds the encoder and head, its
 * newest checkpoint sets every weight. And the kinds of run folder told apart, so that a folder of
 * another kind (or no run folder at all) given where a run is read or written is named as what it is.
 *
 * @since 0.1.0
 */
import type * as tfl from "@tensorflow/tfjs-layers"
import { Effect, Option } from "effect"
import { constants } from "node:fs"
import { access, readdir, readFile, stat } from "node:fs/promises"
import { dirname, join } from "node:path"
import { type Checkpoint, type CheckpointError, readLatestCheckpoint, restoreCheckpoint } from "./checkpoint.ts"
import { disposeState } from "./optimizers.ts"
import { decodePretrainConfig } from "./config.ts"
import { buildSimclrModel, type PretrainConfig, RunFolderError, TEMP } from "./pretrain.ts"
import { pathProblem } from "./resolveData.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface LoadedRun {
  readonly config: PretrainConfig
  /** images → [h, ft, z]; dispose it when done (it frees the encoder and head too). */
  readonly model: tfl.LayersModel
  readonly encoder: tfl.LayersModel
  readonly head: tfl.LayersModel
  readonly step: number
  readonly checkpoint: string
}

/**
 * The folders the commands write, told apart by their `config.json`: a pretrain run (`simclr pretrain`,
 * `simclr demo`, `pretrain`) holds the model's config (`imageSize`, `encoder`, …) and `checkpoints/`; a
 * finetune output (`simclr finetune`, `finetune`) holds a config naming the pretrain run it started from
 * (`run`) and `checkpoints/`; a distill output (`simclr distill`, `distill`) holds a config naming its
 * teacher (`teacher`) and its student (`student`), and `checkpoints/`.
 *
 * @category models
 * @since 0.1.0
 */
export type RunKind = "pretrain" | "finetune" | "distill"

const EXPECTED: Record<RunKind, string> = {
  pretrain: "a pretrain run folder (config.json and checkpoints/, written by simclr pretrain or demo)",
  finetune: "a finetune output folder (config.json naming its pretrain run, and checkpoints/, written by simclr finetune)",
  distill: "a distill output folder (config.json naming its teacher and student, and checkpoints/, written by simclr distill)"
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)

/** The kind of run a parsed `config.json` belongs to. */
const kindOf = (config: unknown): RunKind | undefined =>
  !isRecord(config)
    ? undefined
    : typeof config["teacher"] === "string" && isRecord(config["student"])
    ? "distill"
    : typeof config["run"] === "string" ? "finetune" : typeof config["imageSize"] === "number" && isRecord(config["encoder"]) ? "pretrain" : undefined

interface Inspected {
  readonly kind: RunKind | undefined
  readonly config: Record<string, unknown> | undefined
  /** Nothing there yet (missing or empty): a run may be written to it. */
  readonly fresh: boolean
  /** A file, not a folder. */
  readonly file?: true
  /** What the path is, in words. */
  readonly what: string
}

/** A path that holds no run. */
const other = (what: string, fresh = false): Inspected => ({ kind: undefined, config: undefined, fresh, what })

/** Nothing at the path (ENOENT), or a part of it is a file (ENOTDIR). */
const isMissing = (error: unknown) => ["ENOENT", "ENOTDIR"].includes(String((error as { code?: unknown }).code))

/** What is at `path`; a path that cannot be read throws. */
const inspect = async (path: string): Promise<Inspected> => {
  let missing = ""
  const info = await stat(path).catch((error: unknown) => {
    if (!isMissing(error)) throw error
    missing = pathProblem(error)
  })
  if (info === undefined) return other(missing, true)
  if (!info.isDirectory()) return { ...other("is a file, not a folder"), file: true }
  // A run's config.json.tmp-<pid> left by a kill before its first rename is not a run, nor in the way of one.
  const names = (await readdir(path, { withFileTypes: true })).filter((e) => !TEMP.test(e.name)).map((e) => (e.isDirectory() ? `${e.name}/` : e.name)).toSorted()
  if (names.length === 0) return other("is an empty folder", true)
  if (!names.includes("config.json")) return other(`is not a run folder: it has no config.json (it holds ${names.slice(0, 3).join(", ")}${names.length > 3 ? ", …" : ""})`)
  const text = await readFile(join(path, "config.json"), "utf8").catch((error: unknown) => {
    throw new Error(`its config.json ${pathProblem(error)}`)
  })
  let config: unknown
  try {
    config = JSON.parse(text)
  } catch (error) {
    return other(`its config.json is not JSON (${error instanceof Error ? error.message : String(error)})`)
  }
  const kind = kindOf(config)
  if (kind === undefined) return other("has a config.json that is neither a pretrain run's nor a finetune output's")
  const named = (key: string) => String((config as Record<string, unknown>)[key])
  const what = kind === "pretrain"
    ? "is a pretrain run folder"
    : kind === "finetune"
    ? `is a finetune output folder (fine-tuned from ${named("run")})`
    : `is a distill output folder (distilled from ${named("teacher")})`
  return { kind, config: config as Record<string, unknown>, fresh: false, what }
}

/**
 * Why a command could not write at `path` (create it as a file or folder, or files in it), in words, or
 * undefined when it can: the nearest folder on the path that exists must be writable, and no part of
 * the path a file (the path itself may be a file, to be replaced). A path that cannot be looked at throws.
 *
 * @category training
 * @since 0.1.0
 */
export const writeProblem = async (path: string): Promise<string | undefined> => {
  for (let at = path; ; at = dirname(at)) {
    const info = await stat(at).catch((error: unknown) => (isMissing(error) ? undefined : Promise.reject(error)))
    if (info?.isDirectory() === true) {
      return access(at, constants.W_OK).then(() => undefined, (error: unknown) => {
        const denied = (error as { code?: unknown }).code === "EROFS" ? "a read-only file system" : "permission denied"
        return at === path ? `cannot be written (${denied})` : `cannot be created (${at === "." ? "the current folder" : at}: ${denied})`
      })
    }
    if (info !== undefined && at !== path) return `cannot be created (${at} is a file)`
    if (dirname(at) === at) return undefined
  }
}

/**
 * Why a command could not write its output at `path`: a file (embed's `.npy`: not a folder) or a
 * folder of files (export's model.json and shards: not a file, not a run folder), in words, or
 * undefined when it can (see `writeProblem`).
 *
 * @category training
 * @since 0.1.0
 */
export const outputProblem = async (path: string, expects: "file" | "folder"): Promise<string | undefined> => {
  try {
    if (expects === "file") {
      const info = await stat(path).catch((error: unknown) => (isMissing(error) ? undefined : Promise.reject(error)))
      if (info?.isDirectory() === true) return "is a folder, not a file"
    } else {
      const found = await inspect(path)
      if (found.kind !== undefined || found.file === true) return found.what
    }
    return await writeProblem(path)
  } catch (error) {
    return pathProblem(error)
  }
}

/**
 * Checks what `path` holds before a command reads or writes a run there. `"read"`: it must be a run
 * folder of `kind`, and its `config.json` is returned. `"write"`: it may also be missing or empty (then
 * `undefined`), and it must be writable. Anything else is a `RunFolderError` naming the path, what it is
 * (missing, unreadable, a file, a data folder, a run of the other kind, not writable, …) and what was
 * expected.
 *
 * @category training
 * @since 0.1.0
 */
export const requireRunFolder = (path: string, kind: RunKind, use: "read" | "write" = "read"): Effect.Effect<Record<string, unknown> | undefined, RunFolderError> => {
  const expected = use === "read" ? EXPECTED[kind] : `a new or empty folder, or ${EXPECTED[kind]}`
  const fail = (what: string) => new RunFolderError({ path, reason: `${what}; expected ${expected}` })
  return Effect.tryPromise({
    try: async () => {
      const found = await inspect(path)
      if (found.kind !== kind && !(use === "write" && found.fresh)) return { problem: found.what }
      return { problem: use === "write" ? await writeProblem(path) : undefined, config: found.config }
    },
    catch: (error) => fail(pathProblem(error))
  }).pipe(Effect.flatMap(({ problem, config }) => (problem === undefined ? Effect.succeed(config) : Effect.fail(fail(problem)))))
}

/**
 * A pretrain run folder's `config.json`, without building the model; any other path is a
 * `RunFolderError` naming what it is (see `requireRunFolder`).
 *
 * @category training
 * @since 0.1.0
 */
export const readRunConfig = (out: string): Effect.Effect<PretrainConfig, RunFolderError> =>
  Effect.flatMap(requireRunFolder(out, "pretrain"), (config) =>
    // Decoded as a config file is: a damaged or hostile config.json (a 10⁹-layer encoder) is refused by name, not built.
    Effect.mapError(decodePretrainConfig(config, join(out, "config.json")), (error) => new RunFolderError({ path: out, reason: `its config.json is not a run configuration: ${error.issues}` })))

/**
 * A pretrain run as saved: its config and newest intact checkpoint.
 *
 * @category models
 * @since 0.1.0
 */
export interface SavedRun {
  readonly config: PretrainConfig
  readonly checkpoint: Checkpoint
}

/**
 * Reads the config and the newest intact checkpoint of the run in `out` without building a model (no
 * backend is needed), so that a run without a checkpoint is refused before a command starts its work.
 *
 * @category training
 * @since 0.1.0
 */
export const readRun = (out: string): Effect.Effect<SavedRun, RunFolderError | CheckpointError> =>
  Effect.gen(function*() {
    const config = yield* readRunConfig(out)
    const latest = yield* readLatestCheckpoint(join(out, "checkpoints"))
    if (Option.isNone(latest)) return yield* new RunFolderError({ path: out, reason: `has no checkpoint yet; expected ${EXPECTED.pretrain}` })
    return { config, checkpoint: latest.value }
  })

/**
 * A freshly built model with a read run's checkpoint restored into it.
 *
 * @category training
 * @since 0.1.0
 */
export const buildRun = ({ config, checkpoint }: SavedRun): Effect.Effect<LoadedRun, CheckpointError> =>
  Effect.suspend(() => {
    const built = buildSimclrModel(config)
    return Effect.try({
      try: () => {
        disposeState(restoreCheckpoint(checkpoint, built.model))
        return { config, ...built, step: checkpoint.step, checkpoint: checkpoint.path }
      },
      catch: (error) => {
        built.model.dispose()
        return error as CheckpointError
      }
    })
  })

/**
 * Loads the newest checkpoint of the run in `out` into a freshly built model.
 *
 * @category training
 * @since 0.1.0
 */
export const loadRun = (out: string): Effect.Effect<LoadedRun, RunFolderError | CheckpointError> => Effect.flatMap(readRun(out), buildRun)
