/**
 * The one training loop of simclr-ts, as an Effect program: it owns the run folder, the stream of
 * batches, the learning-rate schedule, checkpoints and resume, metrics, progress, the stop on a
 * non-finite loss and the stop on request (Ctrl-C in the CLI). What is trained, and how, is an
 * `Objective` plugged into it: SimCLR v1, SimCLR v2 with a momentum network and a memory queue, or a
 * user's own.
 *
 *   <out>/config.json     the run's configuration
 *   <out>/metrics.jsonl   one line per logged step: step, epoch, loss, the objective's metrics, lr, images/s
 *   <out>/checkpoints/    step-NNNNNNNN/ (the newest `keepCheckpoints`)
 *   <out>/results.json    written when the run ends: steps, last metrics, wall time, how it ended
 *
 * @since 0.1.0
 */
import { type DataStreamError, imageBatches, type SourceLike, type StreamPosition } from "@simclr/data-stream"
import * as tf from "@tensorflow/tfjs-core"
import { Data, Effect, Option, Stream } from "effect"
import { appendFile, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { CheckpointError, readLatestCheckpoint, writeCheckpoint } from "./checkpoint.ts"
import { resolveSource } from "./internal/resolveSource.ts"
import type { Objective, ObjectiveInfo } from "./objective.ts"
import { type LearningRateScaling, warmupCosine } from "./schedules.ts"
import { NonFiniteLoss } from "./simclrStep.ts"

/**
 * What the loop itself reads from a run's config (the rest is the objective's). The whole config object
 * is written to `config.json`, and a run folder only resumes with the same recipe.
 *
 * @category models
 * @since 0.1.0
 */
export interface TrainLoopConfig {
  readonly batchSize: number
  readonly epochs: number
  /** Seeds the shuffles (and, by convention, the objective's views). */
  readonly seed: number
  /** Decoded image size when `decodeSize` is not set. */
  readonly imageSize: number
  /** The schedule: warm-up then cosine decay of `learningRate` (scaled by batch size). */
  readonly optimizer: {
    readonly learningRate: number
    readonly scaling: LearningRateScaling
    /** Default 10 (official). */
    readonly warmupEpochs?: number
  }
  /** Checkpoint every this many steps (and at the end); default: once per epoch. */
  readonly checkpointEvery?: number
  /** Default 5 (official `keep_checkpoint_max`). */
  readonly keepCheckpoints?: number
  /** Log every this many steps; default 1. */
  readonly logEvery?: number
  /** Decoded image size before the objective's augmentation; default `imageSize`. */
  readonly decodeSize?: number
  /** Images decoded at once; default 4. */
  readonly decodeConcurrency?: number
  /** Decode cache file, for sources read many times; default none. */
  readonly decodeCache?: string
  /**
   * The run's length in optimisation steps (the official `train_steps`): overrides `epochs` for the
   * schedule and for the end of the run, and the data is read for as many epochs as the steps need.
   * Default: `epochs` × whole batches per epoch.
   */
  readonly trainSteps?: number
  /** Stop after this many optimisation steps in total (for smoke runs; the schedule is unchanged); default: the whole run. */
  readonly maxSteps?: number
  /** Images per epoch, for the schedule, when the source cannot tell (an iterable); indexed sources know. */
  readonly examplesPerEpoch?: number
}

/**
 * One line of `metrics.jsonl`: the loop's fields and the objective's metrics.
 *
 * @category models
 * @since 0.1.0
 */
export interface LoopMetrics {
  readonly step: number
  readonly epoch: number
  readonly loss: number
  readonly learningRate: number
  readonly imagesPerSecond: number
  readonly skippedImages: number
  readonly [metric: string]: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface TrainLoopResult<M extends object = LoopMetrics> {
  readonly steps: number
  /** `"completed"`, `"stopped"` (on request, after a checkpoint), or `"max-steps"`. */
  readonly ending: "completed" | "stopped" | "max-steps"
  readonly resumedFrom: number | undefined
  readonly last: M | undefined
  readonly checkpoint: string | undefined
  readonly seconds: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface TrainLoopOptions<M extends object = LoopMetrics> {
  /** The run folder. */
  readonly out: string
  /** Polled after every step: when it returns true the run writes a checkpoint and ends as `"stopped"`. */
  readonly shouldStop?: () => boolean
  /** Called with every logged step (for progress bars). */
  readonly onStep?: (metrics: M) => void
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

/** Creates the run folder, or checks that the one there holds the same recipe; writes config.json. */
const prepareFolder = (out: string, config: object) =>
  Effect.tryPromise({
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
          !OPERATIONAL_FIELDS.includes(k) && JSON.stringify((existing as Record<string, unknown>)[k]) !== JSON.stringify((config as Record<string, unknown>)[k])
        )
        throw new Error(`holds a run with a different config.json (${differing.join(", ")} differ); use another folder, or delete it to start over`)
      }
      // Rewritten only when it changes (a plain resume writes nothing), and whole.
      if (current !== text) await writeWhole(join(out, "config.json"), text)
    },
    catch: (error) => new RunFolderError({ path: out, reason: error instanceof Error ? error.message : String(error) })
  })

/**
 * Trains `objective` on `source` in the current tfjs backend. `objective` is called once, after the
 * source is opened, with what the loop knows of the run, and the objective it returns is disposed when
 * the run ends (however it ends). Re-running with the same `out` resumes from the newest checkpoint
 * (the objective's `restore`); on a deterministic backend (cpu) the resumed run's losses equal an
 * uninterrupted run's when the objective's snapshot holds all of its state.
 *
 * @example
 * ```ts
 * // A custom objective plugged into the loop (see the simclr README for a runnable one).
 * await Effect.runPromise(trainLoop(source, config, (info) => myObjective(info), { out: "runs/mine" }))
 * ```
 *
 * @category training
 * @since 0.1.0
 */
export const trainLoop = <E, M extends object = LoopMetrics>(
  source: SourceLike<E>,
  config: TrainLoopConfig,
  objective: (info: ObjectiveInfo) => Objective,
  options: TrainLoopOptions<M>
): Effect.Effect<TrainLoopResult<M>, E | DataStreamError | CheckpointError | NonFiniteLossError | RunFolderError> =>
  Effect.scoped(
    Effect.gen(function*() {
      const started = performance.now()
      const { out } = options
      const checkpoints = join(out, "checkpoints")
      yield* prepareFolder(out, config)

      const src = yield* resolveSource(source)
      const examples = src._tag === "IndexedSource" ? src.size : config.examplesPerEpoch
      if (examples === undefined) {
        return yield* new RunFolderError({ path: out, reason: `examplesPerEpoch: ${src.name} is read front to back and cannot tell its size; set examplesPerEpoch for the schedule` })
      }
      const stepsPerEpoch = Math.max(1, Math.floor(examples / config.batchSize))
      const totalSteps = config.trainSteps ?? stepsPerEpoch * config.epochs
      const epochs = config.trainSteps === undefined ? config.epochs : Math.ceil(config.trainSteps / stepsPerEpoch)
      const trained = yield* Effect.acquireRelease(
        Effect.sync(() => objective({ classes: src.classes, examples, stepsPerEpoch, totalSteps })),
        (o) => Effect.sync(() => o.dispose())
      )

      let step = 0
      let position: StreamPosition | undefined
      let lastCheckpoint: string | undefined
      const latest = yield* readLatestCheckpoint(checkpoints)
      if (Option.isSome(latest)) {
        yield* Effect.try({
          try: () => trained.restore(latest.value),
          catch: (error) => error instanceof CheckpointError ? error : new CheckpointError({ path: latest.value.path, reason: error instanceof Error ? error.message : String(error) })
        })
        step = latest.value.step
        position = latest.value.position
        lastCheckpoint = latest.value.path
        yield* Effect.log(`resuming from ${latest.value.path} (step ${step})`)
      }
      const resumedFrom = Option.isSome(latest) ? step : undefined
      const learningRate = warmupCosine({
        learningRate: config.optimizer.learningRate,
        scaling: config.optimizer.scaling,
        batchSize: config.batchSize,
        examples,
        epochs,
        warmupEpochs: config.optimizer.warmupEpochs ?? 10,
        ...(config.trainSteps === undefined ? {} : { totalSteps: config.trainSteps })
      })
      const checkpointEvery = config.checkpointEvery ?? stepsPerEpoch
      const logEvery = config.logEvery ?? 1
      const keep = config.keepCheckpoints ?? 5

      const save = (at: StreamPosition | undefined) =>
        Effect.map(
          Effect.suspend(() => writeCheckpoint(checkpoints, { ...trained.snapshot(), step, position: at, state: { step }, config }, keep)),
          (path) => {
            lastCheckpoint = path
            return path
          }
        )

      let last: M | undefined
      let ending: TrainLoopResult["ending"] = "completed"
      let windowStart = performance.now()
      let windowImages = 0
      let lastSaved = step
      let lastPosition = position
      const finished = config.trainSteps !== undefined && step >= config.trainSteps
      if (!finished && config.maxSteps !== undefined && step >= config.maxSteps) ending = "max-steps"
      const batches = imageBatches(src, {
        batchSize: config.batchSize,
        imageSize: config.decodeSize ?? config.imageSize,
        epochs,
        seed: config.seed,
        dropRemainder: true,
        concurrency: config.decodeConcurrency ?? 4,
        ...(position === undefined ? {} : { start: position }),
        ...(config.decodeCache === undefined ? {} : { cache: config.decodeCache })
      })
      if (ending === "completed" && !finished) {
        yield* Stream.runForEachWhile(batches, (batch) =>
          Effect.gen(function*() {
            const lr = learningRate(step)
            const result = yield* Effect.try({
              try: () => trained.step(batch, { step, epoch: batch.epoch, learningRate: lr }),
              catch: (error) => error
            }).pipe(
              Effect.catch((error) =>
                error instanceof NonFiniteLoss ? Effect.fail(new NonFiniteLossError({ step, loss: error.loss, checkpoint: lastCheckpoint })) : Effect.die(error)
              )
            )
            step++
            windowImages += batch.size
            lastPosition = batch.position
            if (step % logEvery === 0) {
              const now = performance.now()
              const { loss, metrics } = result
              const line = {
                step,
                epoch: batch.epoch,
                loss,
                ...metrics,
                learningRate: lr,
                imagesPerSecond: (1000 * windowImages) / Math.max(1e-9, now - windowStart),
                skippedImages: batch.stats.skipped
              }
              last = line as unknown as M
              windowStart = now
              windowImages = 0
              yield* Effect.promise(() => appendFile(join(out, "metrics.jsonl"), JSON.stringify(line) + "\n"))
              options.onStep?.(last)
            }
            const epochEnd = batch.position.index + config.batchSize > examples
            const runEnd = config.trainSteps !== undefined && step >= config.trainSteps
            if (step % checkpointEvery === 0 || epochEnd || runEnd) {
              yield* save(batch.position)
              lastSaved = step
            }
            if (config.trainSteps !== undefined && step >= config.trainSteps) return false
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
      const result: TrainLoopResult<M> = { steps: step, ending, resumedFrom, last, checkpoint: lastCheckpoint, seconds: (performance.now() - started) / 1000 }
      yield* Effect.promise(() =>
        writeWhole(join(out, "results.json"), JSON.stringify({ ...result, objective: trained.name, backend: tf.getBackend() }, null, 2) + "\n")
      )
      return result
    })
  )
