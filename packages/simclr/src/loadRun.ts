/**
 * A pre-training run folder back as a model: its `config.json` rebuilds the encoder and head, its
 * newest checkpoint sets every weight. And the kinds of run folder told apart, so that a folder of
 * another kind (or no run folder at all) given where a run is read or written is named as what it is.
 *
 * @since 0.1.0
 */
import type * as tfl from "@tensorflow/tfjs-layers"
import { Effect, Option } from "effect"
import { readdir, readFile, stat } from "node:fs/promises"
import { join } from "node:path"
import { type CheckpointError, readLatestCheckpoint, restoreCheckpoint } from "./checkpoint.ts"
import { disposeState } from "./optimizers.ts"
import { buildSimclrModel, type PretrainConfig, RunFolderError } from "./pretrain.ts"
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
 * (`run`) and `checkpoints/`.
 *
 * @category models
 * @since 0.1.0
 */
export type RunKind = "pretrain" | "finetune"

const EXPECTED: Record<RunKind, string> = {
  pretrain: "a pretrain run folder (config.json and checkpoints/, written by simclr pretrain or demo)",
  finetune: "a finetune output folder (config.json naming its pretrain run, and checkpoints/, written by simclr finetune)"
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)

/** The kind of run a parsed `config.json` belongs to. */
const kindOf = (config: unknown): RunKind | undefined =>
  !isRecord(config) ? undefined : typeof config["run"] === "string" ? "finetune" : typeof config["imageSize"] === "number" && isRecord(config["encoder"]) ? "pretrain" : undefined

interface Inspected {
  readonly kind: RunKind | undefined
  readonly config: Record<string, unknown> | undefined
  /** Nothing there yet (missing or empty): a run may be written to it. */
  readonly fresh: boolean
  /** What the path is, in words. */
  readonly what: string
}

/** A path that holds no run. */
const other = (what: string, fresh = false): Inspected => ({ kind: undefined, config: undefined, fresh, what })

/** What is at `path`; a path that cannot be read throws. */
const inspect = async (path: string): Promise<Inspected> => {
  const info = await stat(path).catch((error: unknown) => {
    if ((error as { code?: unknown }).code === "ENOENT") return undefined
    throw error
  })
  if (info === undefined) return other("does not exist", true)
  if (!info.isDirectory()) return other("is a file, not a folder")
  const names = (await readdir(path, { withFileTypes: true })).map((e) => (e.isDirectory() ? `${e.name}/` : e.name)).toSorted()
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
  const what = kind === "pretrain" ? "is a pretrain run folder" : `is a finetune output folder (fine-tuned from ${String((config as Record<string, unknown>)["run"])})`
  return { kind, config: config as Record<string, unknown>, fresh: false, what }
}

/**
 * Checks what `path` holds before a command reads or writes a run there. `"read"`: it must be a run
 * folder of `kind`, and its `config.json` is returned. `"write"`: it may also be missing or empty (then
 * `undefined`). Anything else is a `RunFolderError` naming the path, what it is (missing, unreadable, a
 * file, a data folder, a run of the other kind, …) and what was expected.
 *
 * @category training
 * @since 0.1.0
 */
export const requireRunFolder = (path: string, kind: RunKind, use: "read" | "write" = "read"): Effect.Effect<Record<string, unknown> | undefined, RunFolderError> => {
  const expected = use === "read" ? EXPECTED[kind] : `a new or empty folder, or ${EXPECTED[kind]}`
  const fail = (what: string) => new RunFolderError({ path, reason: `${what}; expected ${expected}` })
  return Effect.tryPromise({ try: () => inspect(path), catch: (error) => fail(pathProblem(error)) }).pipe(
    Effect.flatMap((found) =>
      found.kind === kind ? Effect.succeed(found.config) : use === "write" && found.fresh ? Effect.succeed(undefined) : Effect.fail(fail(found.what))
    )
  )
}

/**
 * A pretrain run folder's `config.json`, without building the model; any other path is a
 * `RunFolderError` naming what it is (see `requireRunFolder`).
 *
 * @category training
 * @since 0.1.0
 */
export const readRunConfig = (out: string): Effect.Effect<PretrainConfig, RunFolderError> =>
  Effect.map(requireRunFolder(out, "pretrain"), (config) => config as unknown as PretrainConfig)

/**
 * Loads the newest checkpoint of the run in `out` into a freshly built model.
 *
 * @category training
 * @since 0.1.0
 */
export const loadRun = (out: string): Effect.Effect<LoadedRun, RunFolderError | CheckpointError> =>
  Effect.gen(function*() {
    const config = yield* readRunConfig(out)
    const latest = yield* readLatestCheckpoint(join(out, "checkpoints"))
    if (Option.isNone(latest)) return yield* new RunFolderError({ path: out, reason: "has no checkpoint yet" })
    const built = buildSimclrModel(config)
    const restored = yield* Effect.try({
      try: () => restoreCheckpoint(latest.value, built.model),
      catch: (error) => {
        built.model.dispose()
        return error as CheckpointError
      }
    })
    disposeState(restored)
    return { config, ...built, step: latest.value.step, checkpoint: latest.value.path }
  })
