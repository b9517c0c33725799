/**
 * SimCLR v1 pre-training as an Effect program: batches from `@simclr/data-stream`, two views from
 * `@simclr/augment`, encoder and head from `@simclr/encoders` / `@simclr/heads`, `simclrStep`, the
 * official schedule, a run folder with metrics and checkpoints, resume from the newest checkpoint,
 * a stop on a non-finite loss, and a clean stop on request (Ctrl-C in the CLI).
 *
 *   <out>/config.json     the run's configuration
 *   <out>/metrics.jsonl   one line per logged step: step, epoch, loss, contrastive accuracy and entropy, lr, images/s
 *   <out>/checkpoints/    step-NNNNNNNN/ (the newest `keepCheckpoints`)
 *   <out>/results.json    written when the run ends: steps, last metrics, wall time, how it ended
 *
 * @since 0.1.0
 */
import type { PresetName, ViewConfig } from "@simclr/augment"
import { type DataStreamError, imageBatches, makeTwoViews, type SourceLike, type StreamPosition } from "@simclr/data-stream"
import { resnet, type ResNetConfig } from "@simclr/encoders"
import { projectionHead, type ProjectionHeadConfig, simclrModel } from "@simclr/heads"
import * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import { Data, Effect, Option, Stream } from "effect"
import { appendFile, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { viewConfigOf } from "./config.ts"
import { CheckpointError, readLatestCheckpoint, restoreCheckpoint, writeCheckpoint } from "./checkpoint.ts"
import { adam, adamw, disposeState, isNormOrBias, lars, type Optimizer, type OptimizerState, sgd } from "./optimizers.ts"
import { type LearningRateScaling, warmupCosine } from "./schedules.ts"
import { resolveSource } from "./internal/resolveSource.ts"
import { NonFiniteLoss, simclrStep, trainableWeights } from "./simclrStep.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface OptimizerConfig {
  readonly name: "lars" | "sgd" | "adam" | "adamw"
  /** The base rate, scaled by `scaling` (official: 0.3 linear; CIFAR-10 recipe 1.0 linear; ImageNet 0.075 sqrt). */
  readonly learningRate: number
  readonly scaling: LearningRateScaling
  readonly weightDecay: number
  /** LARS and SGD; default 0.9. */
  readonly momentum?: number
  /** Default 10 (official). */
  readonly warmupEpochs?: number
}

/**
 * Everything a pre-training run needs, all JSON (it is written to `config.json`).
 *
 * @category models
 * @since 0.1.0
 */
export interface PretrainConfig {
  readonly imageSize: number
  readonly batchSize: number
  readonly epochs: number
  readonly seed: number
  readonly temperature: number
  readonly encoder: ResNetConfig
  /** The head without `inputDim` (taken from the encoder). */
  readonly head: Omit<ProjectionHeadConfig, "inputDim">
  readonly optimizer: OptimizerConfig
  /** A preset name of `@simclr/augment` or a `ViewConfig`; its output size is set to `imageSize`. */
  readonly augment: ViewConfig | PresetName
  /** Checkpoint every this many steps (and at the end); default: once per epoch. */
  readonly checkpointEvery?: number
  /** Default 5 (official `keep_checkpoint_max`). */
  readonly keepCheckpoints?: number
  /** Log every this many steps; default 1. */
  readonly logEvery?: number
  /** Decoded image size before augmentation; default `imageSize`. */
  readonly decodeSize?: number
  /** Images decoded at once; default 4. */
  readonly decodeConcurrency?: number
  /** Decode cache file, for sources read many times; default none. */
  readonly decodeCache?: string
  /** Stop after this many optimisation steps in total (for smoke runs); default: all epochs. */
  readonly maxSteps?: number
  /** Images per epoch, for the schedule, when the source cannot tell (an iterable); indexed sources know. */
  readonly examplesPerEpoch?: number
  /**
   * Train a linear classifier on stop-gradient h alongside, when the source has labels (official
   * `lineareval_while_pretraining`, default true): its accuracy in `metrics.jsonl` shows how linearly
   * separable the features are becoming, at no cost to the pre-training. Unlabeled sources skip it.
   */
  readonly linearProbe?: boolean
  /**
   * Images per encoder pass (GradCache; see `simclrStep`'s `chunkSize`): a batch larger than memory
   * allows (wasm's heap is 4 GiB) trains in chunks with cached embedding gradients. Batch norm
   * statistics are then per chunk. Default: the whole batch at once.
   */
  readonly chunkSize?: number
}

/**
 * One line of `metrics.jsonl`.
 *
 * @category models
 * @since 0.1.0
 */
export interface StepMetrics {
  readonly step: number
  readonly epoch: number
  readonly loss: number
  readonly contrastiveAccuracy: number
  readonly contrastiveEntropy: number
  readonly learningRate: number
  readonly imagesPerSecond: number
  readonly skippedImages: number
  /** The online linear probe's cross-entropy and top-1 accuracy on this batch (both views), when it runs. */
  readonly probeLoss?: number
  readonly probeAccuracy?: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface PretrainResult {
  readonly steps: number
  /** `"completed"`, `"stopped"` (on request, after a checkpoint), or `"max-steps"`. */
  readonly ending: "completed" | "stopped" | "max-steps"
  readonly resumedFrom: number | undefined
  readonly last: StepMetrics | undefined
  readonly checkpoint: string | undefined
  readonly seconds: number
}

/**
 * The loss became NaN or infinite: the run stops; the step was not applied, and the last checkpoint is
 * untouched.
 *
 * @category errors
 * @since 0.1.0
 */
export class NonFiniteLossError extends Data.TaggedError("NonFiniteLossError")<{
  readonly step: number
  readonly loss: number
  readonly checkpoint: string | undefined
}> {
  override get message(): string {
    return `the loss is ${this.loss} at step ${this.step}; the run stopped without applying that step. ${
      this.checkpoint === undefined ? "No checkpoint was written yet." : `The last good checkpoint is ${this.checkpoint}.`
    } Lower the learning rate or check the data.`
  }
}

/**
 * The run folder cannot be written, or its config does not match the one given.
 *
 * @category errors
 * @since 0.1.0
 */
export class RunFolderError extends Data.TaggedError("RunFolderError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `run folder ${this.path}: ${this.reason}`
  }
}

/**
 * Builds the optimiser a config names.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeOptimizer = (c: OptimizerConfig): Optimizer => {
  switch (c.name) {
    case "lars":
      // The official LARS leaves the online probe (head_supervised) out of weight decay and adaptation.
      return lars({ momentum: c.momentum ?? 0.9, weightDecay: c.weightDecay, excludeFromWeightDecay: (n) => isNormOrBias(n) || n.startsWith("head_supervised/") })
    case "sgd":
      return sgd({ momentum: c.momentum ?? 0.9, weightDecay: c.weightDecay })
    case "adam":
      return adam({ weightDecay: c.weightDecay })
    case "adamw":
      return adamw({ weightDecay: c.weightDecay })
    default:
      throw new RangeError(`optimizer.name: got ${JSON.stringify((c as { name: unknown }).name)}; allowed: "lars", "sgd", "adam", "adamw"`)
  }
}

/**
 * The encoder, the head and their composition, from a config. The caller disposes `model` (which frees
 * the encoder's and head's weights with it).
 *
 * @category constructors
 * @since 0.1.0
 */
export const buildSimclrModel = (config: Pick<PretrainConfig, "encoder" | "head" | "imageSize">): {
  readonly encoder: tfl.LayersModel
  readonly head: tfl.LayersModel
  readonly model: tfl.LayersModel
} => {
  const encoder = resnet({ ...config.encoder, inputShape: [config.imageSize, config.imageSize, 3] })
  const inputDim = encoder.outputs[0]!.shape[1] as number
  const head = projectionHead({ ...config.head, inputDim })
  return { encoder, head, model: simclrModel(encoder, head) }
}

/**
 * Fields that change how a run is driven, not what it computes: a run may be resumed with other values
 * (e.g. a `maxSteps` smoke run continued to the end). Everything else must match to resume.
 */
const OPERATIONAL_FIELDS = ["maxSteps", "logEvery", "checkpointEvery", "keepCheckpoints", "decodeConcurrency", "decodeCache"]

const recipeOf = (c: unknown): string => JSON.stringify(Object.fromEntries(Object.entries(c as Record<string, unknown>).filter(([k]) => !OPERATIONAL_FIELDS.includes(k))))

const sameRecipe = (a: unknown, b: unknown): boolean => typeof a === "object" && a !== null && recipeOf(a) === recipeOf(b)

/** Run-folder files written whole (config.json, results.json) go to `<name>.tmp-<pid>` first, then are renamed into place. */
/** @internal */
export const TEMP = /^(config|results)\.json\.tmp-(\d+)$/

/**
 * Writes `text` to `path` through a temporary file renamed into place: a kill at any moment leaves the
 * old file or the new one, never a truncated one (a truncated config.json makes the folder unreadable
 * as a run).
 */
const writeWhole = async (path: string, text: string): Promise<void> => {
  const temp = `${path}.tmp-${process.pid}`
  await writeFile(temp, text, { flush: true })
  await rename(temp, path)
}

const slotNames = (s: OptimizerState) => Object.keys(s.slots).toSorted()

/**
 * What is wrong with a checkpoint's optimiser state for this run's optimiser (whose fresh state is
 * `fresh`): other slots, or a slot without some trainable weight or with one the run does not train.
 * Undefined when it fits.
 */
const slotsMismatch = (restored: OptimizerState, fresh: OptimizerState): string | undefined => {
  if (slotNames(restored).join() !== slotNames(fresh).join()) {
    return `its optimizer slots are ${JSON.stringify(slotNames(restored))}; this run's optimizer has ${JSON.stringify(slotNames(fresh))}`
  }
  for (const slot of slotNames(fresh)) {
    const [want, got] = [fresh.slots[slot]!, restored.slots[slot]!]
    const missing = Object.keys(want).filter((n) => !Object.hasOwn(got, n))
    const unexpected = Object.keys(got).filter((n) => !Object.hasOwn(want, n))
    if (missing.length + unexpected.length > 0) return `optimizer slot ${slot} does not fit the model: missing ${JSON.stringify(missing)}, unexpected ${JSON.stringify(unexpected)}`
  }
  return undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface PretrainOptions {
  /** The run folder. */
  readonly out: string
  /** Polled after every step: when it returns true the run writes a checkpoint and ends as `"stopped"`. */
  readonly shouldStop?: () => boolean
  /** Called with every logged step (for progress bars). */
  readonly onStep?: (metrics: StepMetrics) => void
}

/**
 * Pre-trains a SimCLR encoder + head on `source` in the current tfjs backend. Re-running with the same
 * `out` resumes from the newest checkpoint, and on a deterministic backend (cpu) the resumed run's
 * losses equal an uninterrupted run's.
 *
 * @category training
 * @since 0.1.0
 */
export const pretrain = <E>(
  source: SourceLike<E>,
  config: PretrainConfig,
  options: PretrainOptions
): Effect.Effect<PretrainResult, E | DataStreamError | CheckpointError | NonFiniteLossError | RunFolderError> =>
  Effect.scoped(
    Effect.gen(function*() {
      const started = performance.now()
      const { out } = options
      const checkpoints = join(out, "checkpoints")
      yield* Effect.tryPromise({
        try: async () => {
          // checkpoints/ is made by the first checkpoint: until then the folder holds config.json only.
          await mkdir(out, { recursive: true })
          for (const name of await readdir(out)) {
            const temp = TEMP.exec(name)
            if (temp !== null && temp[2] !== String(process.pid)) await rm(join(out, name), { force: true })
          }
          const text = JSON.stringify(config, null, 2) + "\n"
          const current = await readFile(join(out, "config.json"), "utf8").catch(() => undefined)
          const existing = (() => {
            try {
              return current === undefined ? undefined : (JSON.parse(current) as unknown)
            } catch (error) {
              // Never overwritten: it may be the only record of a run's recipe.
              throw new Error(`its config.json is not JSON (${error instanceof Error ? error.message : String(error)}); repair it, or use another folder`, { cause: error })
            }
          })()
          if (existing !== undefined && !sameRecipe(existing, config)) {
            const differing = Object.keys({ ...(existing as object), ...config }).filter((k) =>
              !OPERATIONAL_FIELDS.includes(k) && JSON.stringify((existing as Record<string, unknown>)[k]) !== JSON.stringify((config as unknown as Record<string, unknown>)[k])
            )
            throw new Error(`holds a run with a different config.json (${differing.join(", ")} differ); use another folder, or delete it to start over`)
          }
          // Rewritten only when it changes (a plain resume writes nothing), and whole.
          if (current !== text) await writeWhole(join(out, "config.json"), text)
        },
        catch: (error) => new RunFolderError({ path: out, reason: error instanceof Error ? error.message : String(error) })
      })

      const src = yield* resolveSource(source)
      const { model } = yield* Effect.acquireRelease(
        Effect.sync(() => buildSimclrModel(config)),
        (built) => Effect.sync(() => built.model.dispose())
      )
      // The online probe: zero-initialised linear classifier on h, when there are classes to learn.
      const classes = src.classes?.length ?? 0
      const probeWeights = config.linearProbe !== false && classes >= 2
        ? yield* Effect.acquireRelease(
          Effect.sync(() => {
            const dim = model.outputs[0]!.shape[1] as number
            // In a tidy, so the zero tensors the variables start from are freed.
            return tf.tidy(() => ({ "head_supervised/kernel": tf.variable(tf.zeros([dim, classes])), "head_supervised/bias": tf.variable(tf.zeros([classes])) }))
          }),
          (weights) => Effect.sync(() => tf.dispose(Object.values(weights)))
        )
        : undefined
      const optimizer = makeOptimizer(config.optimizer)
      let state: OptimizerState = optimizer.init({ ...trainableWeights(model), ...probeWeights })
      yield* Effect.addFinalizer(() => Effect.sync(() => disposeState(state)))

      let step = 0
      let position: StreamPosition | undefined
      let lastCheckpoint: string | undefined
      const latest = yield* readLatestCheckpoint(checkpoints)
      if (Option.isSome(latest)) {
        const restored = yield* Effect.try({
          try: () => restoreCheckpoint(latest.value, model, probeWeights),
          catch: (error) => error instanceof CheckpointError ? error : new CheckpointError({ path: latest.value.path, reason: error instanceof Error ? error.message : String(error) })
        })
        const mismatch = slotsMismatch(restored, state)
        if (mismatch !== undefined) {
          disposeState(restored)
          return yield* new CheckpointError({ path: latest.value.path, reason: mismatch })
        }
        disposeState(state)
        state = restored
        step = latest.value.step
        position = latest.value.position
        lastCheckpoint = latest.value.path
        yield* Effect.log(`resuming from ${latest.value.path} (step ${step})`)
      }
      const resumedFrom = Option.isSome(latest) ? step : undefined
      const examples = src._tag === "IndexedSource" ? src.size : config.examplesPerEpoch
      if (examples === undefined) {
        return yield* new RunFolderError({ path: out, reason: `examplesPerEpoch: ${src.name} is read front to back and cannot tell its size; set examplesPerEpoch for the schedule` })
      }
      const stepsPerEpoch = Math.max(1, Math.floor(examples / config.batchSize))
      const learningRate = warmupCosine({
        learningRate: config.optimizer.learningRate,
        scaling: config.optimizer.scaling,
        batchSize: config.batchSize,
        examples,
        epochs: config.epochs,
        warmupEpochs: config.optimizer.warmupEpochs ?? 10
      })
      const augment = viewConfigOf(config)
      const checkpointEvery = config.checkpointEvery ?? stepsPerEpoch
      const logEvery = config.logEvery ?? 1
      const keep = config.keepCheckpoints ?? 5

      const save = (at: StreamPosition | undefined) =>
        Effect.map(
          writeCheckpoint(checkpoints, { step, model, extraWeights: probeWeights, optimizerState: state, position: at, state: { step }, config }, keep),
          (path) => {
            lastCheckpoint = path
            return path
          }
        )

      let last: StepMetrics | undefined
      let ending: PretrainResult["ending"] = "completed"
      let windowStart = performance.now()
      let windowImages = 0
      let lastSaved = step
      let lastPosition = position
      if (config.maxSteps !== undefined && step >= config.maxSteps) ending = "max-steps"
      const batches = imageBatches(src, {
        batchSize: config.batchSize,
        imageSize: config.decodeSize ?? config.imageSize,
        epochs: config.epochs,
        seed: config.seed,
        dropRemainder: true,
        concurrency: config.decodeConcurrency ?? 4,
        ...(position === undefined ? {} : { start: position }),
        ...(config.decodeCache === undefined ? {} : { cache: config.decodeCache })
      })
      if (ending === "completed") {
        yield* Stream.runForEachWhile(batches, (batch) =>
          Effect.gen(function*() {
            const lr = learningRate(step)
            const views = makeTwoViews(batch, augment, config.seed)
            const result = yield* Effect.try({
              try: () =>
                simclrStep(model, [views.view1, views.view2], state, {
                  temperature: config.temperature,
                  optimizer,
                  learningRate: lr,
                  ...(config.chunkSize === undefined ? {} : { chunkSize: config.chunkSize }),
                  ...(probeWeights === undefined || batch.labels === undefined ? {} : { probe: { weights: probeWeights, labels: batch.labels } })
                }),
              catch: (error) => error
            }).pipe(
              Effect.catch((error) =>
                error instanceof NonFiniteLoss ? Effect.fail(new NonFiniteLossError({ step, loss: error.loss, checkpoint: lastCheckpoint })) : Effect.die(error)
              ),
              Effect.ensuring(Effect.sync(() => views.dispose()))
            )
            state = result.state
            step++
            windowImages += batch.size
            lastPosition = batch.position
            if (step % logEvery === 0) {
              const now = performance.now()
              last = {
                step,
                epoch: batch.epoch,
                loss: result.loss,
                contrastiveAccuracy: result.contrastiveAccuracy,
                contrastiveEntropy: result.contrastiveEntropy,
                learningRate: lr,
                imagesPerSecond: (1000 * windowImages) / Math.max(1e-9, now - windowStart),
                skippedImages: batch.stats.skipped,
                ...(result.probeAccuracy === undefined ? {} : { probeLoss: result.probeLoss!, probeAccuracy: result.probeAccuracy })
              }
              windowStart = now
              windowImages = 0
              yield* Effect.promise(() => appendFile(join(out, "metrics.jsonl"), JSON.stringify(last) + "\n"))
              options.onStep?.(last)
            }
            const epochEnd = batch.position.index + config.batchSize > examples
            if (step % checkpointEvery === 0 || epochEnd) {
              yield* save(batch.position)
              lastSaved = step
            }
            if (options.shouldStop?.() === true) {
              ending = "stopped"
              return false
            }
            if (config.maxSteps !== undefined && step >= config.maxSteps) {
              ending = "max-steps"
              return false
            }
            return true
          })
        )
      }
      if (step !== lastSaved) yield* save(lastPosition)
      const result: PretrainResult = { steps: step, ending, resumedFrom, last, checkpoint: lastCheckpoint, seconds: (performance.now() - started) / 1000 }
      yield* Effect.promise(() => writeWhole(join(out, "results.json"), JSON.stringify({ ...result, backend: tf.getBackend() }, null, 2) + "\n"))
      return result
    })
  )
