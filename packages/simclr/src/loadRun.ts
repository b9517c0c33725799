/**
 * A pre-training run folder back as a model: its `config.json` rebuilds the encoder and head, its
 * newest checkpoint sets every weight.
 *
 * @since 0.1.0
 */
import type * as tfl from "@tensorflow/tfjs-layers"
import { Effect, Option } from "effect"
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { type CheckpointError, readLatestCheckpoint, restoreCheckpoint } from "./checkpoint.ts"
import { disposeState } from "./optimizers.ts"
import { buildSimclrModel, type PretrainConfig, RunFolderError } from "./pretrain.ts"

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
 * A run folder's `config.json`, without building the model.
 *
 * @category training
 * @since 0.1.0
 */
export const readRunConfig = (out: string): Effect.Effect<PretrainConfig, RunFolderError> =>
  Effect.tryPromise({
    try: async () => JSON.parse(await readFile(join(out, "config.json"), "utf8")) as PretrainConfig,
    catch: (error) => new RunFolderError({ path: out, reason: `no readable config.json (${error instanceof Error ? error.message : String(error)}): is this a pretrain run folder?` })
  })

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
