/**
 * SimCLR v2's third stage as a pipeline: a fine-tuned teacher (a `simclr finetune` output) distilled
 * into a student on (mostly) unlabeled images, with the one training loop (`trainLoop`: checkpoints,
 * resume, metrics, Ctrl-C), then the student exported in the TF.js layers format and scored.
 *
 *   <out>/config.json  metrics.jsonl  checkpoints/  results.json   the loop's run folder
 *   <out>/student/                                                 model.json and weight shards
 *   <out>/distill.json                                             steps, time, parameters, test top-1/top-5
 *
 * @since 0.1.0
 */
import type { DataStreamError, SourceLike } from "@simclr/data-stream"
import { studentFrom } from "@simclr/distill"
import { saveModel } from "@simclr/encoders"
import * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import { Effect, Option } from "effect"
import { writeFile } from "node:fs/promises"
import { join } from "node:path"
import { type Checkpoint, CheckpointError, readLatestCheckpoint, restoreCheckpoint } from "./checkpoint.ts"
import { type DistillConfig, distillObjective } from "./distillObjective.ts"
import { type Accuracy, accuracyOf } from "./evaluate.ts"
import { extractFeatures } from "./extractFeatures.ts"
import { buildFinetuned, readFinetuned } from "./loadFinetuned.ts"
import { readRun, requireRunFolder, type SavedRun } from "./loadRun.ts"
import { disposeState } from "./optimizers.ts"
import { buildSimclrModel, RunFolderError } from "./pretrain.ts"
import { type LoopMetrics, type NonFiniteLossError, trainLoop, type TrainLoopResult } from "./trainLoop.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface DistillOptions<E> {
  /** The run folder: new, empty, or an earlier distill output with the same config (then the run resumes). */
  readonly out: string
  /** Labeled test data: the student's top-1/top-5 in `distill.json`. */
  readonly test?: SourceLike<E>
  /** Polled after every step: true checkpoints and stops the run (nothing is exported then). */
  readonly shouldStop?: () => boolean
  /** Called with every logged step. */
  readonly onStep?: (metrics: LoopMetrics) => void
}

/**
 * What `distill` writes to `<out>/distill.json` (and returns).
 *
 * @category models
 * @since 0.1.0
 */
export interface DistillResult {
  readonly teacher: string
  readonly steps: number
  /** The loop's ending: `"stopped"` (Ctrl-C) exports nothing and writes no distill.json. */
  readonly ending: TrainLoopResult["ending"]
  readonly resumedFrom: number | undefined
  /** Wall time of this call: the loop (from where it resumed), the export and the test. */
  readonly seconds: number
  /** Every weight of the teacher's checkpoint (batch-norm statistics and unused projection-head layers included). */
  readonly teacherParameters: number
  /** Every weight of the student (batch-norm statistics included). */
  readonly studentParameters: number
  /** The exported student's folder (`<out>/student`), undefined when the run was stopped. */
  readonly student: string | undefined
  readonly test: Accuracy | undefined
  readonly last: LoopMetrics | undefined
}

/** Scalars in a checkpoint's model weights. */
const parametersOf = (checkpoint: Checkpoint): number => [...checkpoint.weights.values()].reduce((n, w) => n + w.values.length, 0)

/** An encoder config without its seed and input shape: what must match for a student to start from the pre-trained encoder. */
const architecture = (encoder: object): string =>
  JSON.stringify(Object.fromEntries(Object.entries(encoder).filter(([k]) => k !== "seed" && k !== "inputShape").toSorted(([a], [b]) => a.localeCompare(b))))

/** The pre-trained encoder of a run, restored, copied into a new student; the run's model is freed. */
const studentFromRun = (run: SavedRun, encoder: DistillConfig["student"]["encoder"], numClasses: number, seed: number): tfl.LayersModel => {
  const built = buildSimclrModel(run.config)
  try {
    disposeState(restoreCheckpoint(run.checkpoint, built.model))
    return studentFrom({ encoder, numClasses, pretrained: built.encoder, seed })
  } finally {
    built.model.dispose()
  }
}

/**
 * Distils the classifier of the finetune output `config.teacher` into a student on `source`
 * (`distillObjective` in `trainLoop`), into the run folder `options.out`: re-running the same call
 * resumes from the newest checkpoint, and a completed run only re-exports and re-scores. The stream's
 * labels are used where it has them (−1 = unlabeled): with `alpha > 0` in the loss, in every case in the
 * `labeled` / `labeledAccuracy` metrics; a labeled source must have the teacher's class count. Unless the
 * run was stopped, the student of the newest checkpoint is written to `<out>/student/` (TF.js layers
 * format: `tf.loadLayersModel` after importing `@simclr/encoders` and `@simclr/heads`), scored on
 * `options.test`, and `<out>/distill.json` is written.
 *
 * @example
 * ```ts
 * const result = await Effect.runPromise(distill(unlabeled, { ...loopConfig, teacher: "runs/simclr/finetune", … }, { out: "runs/distill" }))
 * ```
 *
 * @category training
 * @since 0.1.0
 */
export const distill = <E1 = never, E2 = never>(
  source: SourceLike<E1>,
  config: DistillConfig,
  options: DistillOptions<E2>
): Effect.Effect<DistillResult, E1 | E2 | DataStreamError | CheckpointError | NonFiniteLossError | RunFolderError> =>
  Effect.scoped(
    Effect.gen(function*() {
      const started = performance.now()
      const { out } = options
      yield* requireRunFolder(out, "distill", "write")
      const teacher = yield* readFinetuned(config.teacher)
      const size = teacher.runConfig.imageSize
      if (config.imageSize !== size) {
        return yield* new RunFolderError({ path: out, reason: `imageSize: the teacher ${config.teacher} reads ${size}×${size} images; the config says ${config.imageSize}` })
      }
      if (typeof source === "object" && "_tag" in source && (source._tag === "IndexedSource" || source._tag === "StreamSource")) {
        if (source.classes !== undefined && source.classes.length !== teacher.classes) {
          return yield* new RunFolderError({ path: out, reason: `the data has ${source.classes.length} classes; the teacher predicts ${teacher.classes}: labeled images must use the teacher's classes` })
        }
      }
      const encoder = { ...config.student.encoder, inputShape: [size, size, 3] as [number, number, number] }
      let run: SavedRun | undefined
      if (config.student.init === "pretrained") {
        run = yield* readRun(teacher.run)
        if (architecture(run.config.encoder) !== architecture(config.student.encoder)) {
          return yield* new RunFolderError({
            path: out,
            reason: `student.init "pretrained" needs the pre-trained encoder's config (${architecture(run.config.encoder)}); the student's is ${architecture(config.student.encoder)}: start a narrower or shallower student at random`
          })
        }
      }
      const pretrained = run
      const loop = yield* trainLoop(source, config, () => {
        const model = buildFinetuned(teacher)
        let student: tfl.LayersModel
        try {
          student = pretrained === undefined
            ? studentFrom({ encoder, numClasses: teacher.classes, seed: config.seed })
            : studentFromRun(pretrained, encoder, teacher.classes, config.seed)
        } catch (error) {
          model.dispose()
          throw error
        }
        return distillObjective({ teacher: model, student }, config)
      }, { out, ...(options.shouldStop === undefined ? {} : { shouldStop: options.shouldStop }), ...(options.onStep === undefined ? {} : { onStep: options.onStep }) })

      const teacherParameters = parametersOf(teacher.checkpoint)
      const base = { teacher: config.teacher, steps: loop.steps, ending: loop.ending, resumedFrom: loop.resumedFrom, teacherParameters, last: loop.last }
      const latest = yield* readLatestCheckpoint(join(out, "checkpoints"))
      if (loop.ending === "stopped" || Option.isNone(latest)) {
        const studentParameters = Option.isSome(latest) ? parametersOf(latest.value) : 0
        return { ...base, seconds: (performance.now() - started) / 1000, studentParameters, student: undefined, test: undefined }
      }
      const student = yield* Effect.acquireRelease(
        Effect.try({
          try: () => {
            const model = studentFrom({ encoder, numClasses: teacher.classes, seed: config.seed })
            try {
              disposeState(restoreCheckpoint(latest.value, model))
            } catch (error) {
              model.dispose()
              throw error
            }
            return model
          },
          catch: (error) => (error instanceof CheckpointError ? error : new CheckpointError({ path: latest.value.path, reason: error instanceof Error ? error.message : String(error) }))
        }),
        (model) => Effect.sync(() => model.dispose())
      )
      const folder = join(out, "student")
      yield* Effect.tryPromise({
        try: () => saveModel(student, folder),
        catch: (error) => new RunFolderError({ path: folder, reason: error instanceof Error ? error.message : String(error) })
      })
      let test: Accuracy | undefined
      if (options.test !== undefined) {
        const logits = yield* extractFeatures(student, options.test, { imageSize: size })
        if (logits.labels === undefined) return yield* new RunFolderError({ path: out, reason: "the test data has no labels" })
        const scores = tf.tensor2d(logits.values, [logits.count, teacher.classes])
        test = accuracyOf(scores, logits.labels)
        scores.dispose()
      }
      const result: DistillResult = {
        ...base,
        seconds: (performance.now() - started) / 1000,
        studentParameters: parametersOf(latest.value),
        student: folder,
        test
      }
      yield* Effect.tryPromise({
        try: () => writeFile(join(out, "distill.json"), JSON.stringify(result, null, 2) + "\n"),
        catch: (error) => new RunFolderError({ path: out, reason: error instanceof Error ? error.message : String(error) })
      })
      return result
    })
  )
