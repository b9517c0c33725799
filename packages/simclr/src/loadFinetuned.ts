/**
 * A `simclr finetune` output folder back as its classifier: its `config.json` names the pretrain run
 * (whose config rebuilds the encoder and head) and the head layer the classifier reads, and its
 * checkpoint holds every weight of the whole classifier.
 *
 * @since 0.1.0
 */
import type * as tfl from "@tensorflow/tfjs-layers"
import { Effect, Option } from "effect"
import { join } from "node:path"
import { type Checkpoint, CheckpointError, readLatestCheckpoint, restoreCheckpoint } from "./checkpoint.ts"
import { finetunedModel } from "./finetune.ts"
import { readRunConfig, requireRunFolder } from "./loadRun.ts"
import { disposeState } from "./optimizers.ts"
import { type PretrainConfig, RunFolderError } from "./pretrain.ts"
import { buildEncoderAndHead } from "./simclrObjective.ts"

/**
 * A finetune output as saved: what rebuilds its classifier, and its checkpoint (typed arrays: no tfjs
 * memory, no backend needed).
 *
 * @category models
 * @since 0.1.0
 */
export interface SavedFinetuned {
  /** The finetune output folder. */
  readonly folder: string
  /** The pretrain run it was fine-tuned from, as its config.json names it. */
  readonly run: string
  /** That run's config (encoder, head, image size). */
  readonly runConfig: PretrainConfig
  readonly ftProjSelector: number
  readonly classes: number
  readonly checkpoint: Checkpoint
}

/**
 * @category models
 * @since 0.1.0
 */
export interface LoadedFinetuned extends SavedFinetuned {
  /** images `[B, size, size, 3]` → logits `[B, classes]`; dispose it when done. */
  readonly model: tfl.LayersModel
}

/** The supervised head's bias: its length is the class count. */
const HEAD_BIAS = /^head_supervised[./].*bias$/

/**
 * Reads a finetune output folder's config, its pretrain run's config and its newest intact checkpoint,
 * without building a model. A folder that is not a finetune output, a run that is gone, or a folder
 * without a checkpoint is a `RunFolderError` naming the path and what it is.
 *
 * @category training
 * @since 0.1.0
 */
export const readFinetuned = (folder: string): Effect.Effect<SavedFinetuned, RunFolderError | CheckpointError> =>
  Effect.gen(function*() {
    const config = (yield* requireRunFolder(folder, "finetune"))!
    const run = config["run"] as string
    const ftProjSelector = config["ftProjSelector"]
    if (typeof ftProjSelector !== "number" || !Number.isInteger(ftProjSelector) || ftProjSelector < 0) {
      return yield* new RunFolderError({ path: folder, reason: `its config.json has no ftProjSelector (an integer ≥ 0), got ${JSON.stringify(ftProjSelector)}` })
    }
    const runConfig = yield* readRunConfig(run).pipe(
      Effect.mapError((e) => new RunFolderError({ path: folder, reason: `the pretrain run its config.json names cannot be read: ${e.message}` }))
    )
    const latest = yield* readLatestCheckpoint(join(folder, "checkpoints"))
    if (Option.isNone(latest)) return yield* new RunFolderError({ path: folder, reason: "has no checkpoint: the fine-tuning did not finish" })
    const bias = [...latest.value.weights].find(([name]) => HEAD_BIAS.test(name))
    if (bias === undefined || bias[1].shape.length !== 1) {
      return yield* new CheckpointError({ path: latest.value.path, reason: "holds no supervised head (head_supervised/…bias): it was not written by finetune" })
    }
    return { folder, run, runConfig, ftProjSelector, classes: bias[1].shape[0]!, checkpoint: latest.value }
  })

/**
 * Builds a read finetune output's classifier (`finetunedModel`, as `finetune` built it) and sets every
 * weight from its checkpoint. Throws a `CheckpointError` (with nothing left allocated) when the
 * checkpoint does not fit. The caller disposes the model.
 *
 * @category training
 * @since 0.1.0
 */
export const buildFinetuned = (saved: SavedFinetuned): tfl.LayersModel => {
  const { encoder, head } = buildEncoderAndHead(saved.runConfig)
  let model: tfl.LayersModel
  try {
    // The classifier head's initial weights are overwritten by the checkpoint: its seed does not matter.
    model = finetunedModel({ encoder, head }, { imageSize: saved.runConfig.imageSize, classes: saved.classes, ftProjSelector: saved.ftProjSelector, seed: 0 })
  } catch (error) {
    encoder.dispose()
    head.dispose()
    throw error
  }
  try {
    disposeState(restoreCheckpoint(saved.checkpoint, model))
    return model
  } catch (error) {
    // The classifier holds the encoder and head alone: disposing it frees every weight.
    model.dispose()
    throw error
  }
}

/**
 * Loads the classifier a `simclr finetune` output folder holds: the pretrain run its `config.json`
 * names rebuilds the encoder and head, the classifier is built on the head layer it was fine-tuned
 * from, and every weight is set from the folder's newest checkpoint. On cpu its logits are
 * bit-identical to the fine-tuned model's. Dispose `model` when done.
 *
 * @example
 * ```ts
 * const teacher = await Effect.runPromise(loadFinetuned("runs/simclr/finetune"))
 * const logits = teacher.model.predict(images) // [B, classes]
 * teacher.model.dispose()
 * ```
 *
 * @category training
 * @since 0.1.0
 */
export const loadFinetuned = (folder: string): Effect.Effect<LoadedFinetuned, RunFolderError | CheckpointError> =>
  Effect.flatMap(readFinetuned(folder), (saved) =>
    Effect.try({
      try: () => ({ ...saved, model: buildFinetuned(saved) }),
      catch: (error) => (error instanceof CheckpointError ? error : new CheckpointError({ path: saved.checkpoint.path, reason: error instanceof Error ? error.message : String(error) }))
    }))
