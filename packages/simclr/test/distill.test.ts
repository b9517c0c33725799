/**
 * SimCLR v2's distillation in the simclr package: a fine-tuned classifier loaded back from its folder
 * (`loadFinetuned`), the distillation objective in the one training loop (`distillObjective` in
 * `trainLoop`), and `simclr distill` end to end. A tiny pretrain run and its fine-tuning are made once,
 * on the cpu backend, synthetic 8×8 images.
 */
import { assert, describe, it } from "@effect/vitest"
import { augmentPresets, simclrView } from "@simclr/augment"
import { batchSeed, type ImageBatch, synthetic, toTensors } from "@simclr/data-stream"
import { distillLoss, studentFrom, teacherTargets } from "@simclr/distill"
import * as tf from "@tensorflow/tfjs-core"
import { Effect, Option } from "effect"
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll } from "vitest"
import { concatSources, withoutLabels } from "../src/internal/sources.ts"
import {
  accuracyOf,
  buildFinetuned,
  distill,
  type DistillConfig,
  distillObjective,
  extractFeatures,
  finetune,
  finetuneDefaults,
  loadFinetuned,
  type Objective,
  pretrain,
  readFinetuned,
  readLatestCheckpoint,
  type SavedFinetuned,
  selectBackend,
  trainLoop
} from "../src/index.ts"
import { tinyConfig, tinySource } from "./tinyConfig.ts"

const root = mkdtempSync(join(tmpdir(), "simclr-distill-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const run = join(root, "pretrain")
const tuned = join(root, "finetune")
const testSource = () => synthetic({ size: 20, seed: 9, imageSize: 8 })

/** The tiny pretrain run and its fine-tuning (from head layer 1, as for a v2 run), made once. */
let prepared: Promise<void> | undefined
const prepare = Effect.gen(function*() {
  yield* selectBackend("cpu")
  if (prepared === undefined) {
    prepared = Effect.runPromise(Effect.gen(function*() {
      yield* pretrain(tinySource(16), { ...tinyConfig, epochs: 1 }, { out: run })
      yield* finetune(run, synthetic({ size: 40, seed: 4, imageSize: 8 }), { ...finetuneDefaults(), epochs: 1, batchSize: 10, ftProjSelector: 1 }, { out: tuned, test: testSource() })
    }))
  }
  yield* Effect.promise(() => prepared!)
})

const values = (t: tf.Tensor) => Array.from(t.dataSync())

describe("loadFinetuned", () => {
  it.effect("rebuilds the fine-tuned classifier: every weight as checkpointed, the same test scores as finetune measured, nothing left behind", () =>
    Effect.gen(function*() {
      yield* prepare
      const before = tf.memory().numTensors
      const loaded = yield* loadFinetuned(tuned)
      assert.deepStrictEqual([loaded.classes, loaded.ftProjSelector, loaded.run], [10, 1, run])
      const checkpoint = Option.getOrThrow(yield* readLatestCheckpoint(join(tuned, "checkpoints")))
      assert.strictEqual(loaded.model.weights.length, checkpoint.weights.size)
      for (const w of loaded.model.weights) assert.deepStrictEqual(values(w.read()), Array.from(checkpoint.weights.get(w.originalName)!.values), w.originalName)
      // finetune scored its model on the test set at the end; the loaded model scores exactly the same.
      const logits = yield* extractFeatures(loaded.model, testSource(), { imageSize: 8 })
      const scores = tf.tensor2d(logits.values, [logits.count, 10])
      const accuracy = accuracyOf(scores, logits.labels!)
      scores.dispose()
      const results = JSON.parse(readFileSync(join(tuned, "results.json"), "utf8")) as { test: unknown }
      assert.deepStrictEqual(accuracy, results.test)
      // Bit-identical logits from a second load (nothing random in the rebuild).
      const again = yield* loadFinetuned(tuned)
      const x = tf.randomUniform([3, 8, 8, 3], 0, 1, "float32", 5)
      const [a, b] = [loaded.model.predict(x) as tf.Tensor, again.model.predict(x) as tf.Tensor]
      assert.deepStrictEqual(values(a), values(b))
      tf.dispose([x, a, b])
      loaded.model.dispose()
      again.model.dispose()
      assert.strictEqual(tf.memory().numTensors, before, "tensors left behind by loadFinetuned")
    }), 120_000)

  it.effect("names what is wrong with a folder that is not a finetune output", () =>
    Effect.gen(function*() {
      yield* prepare
      const error = yield* Effect.flip(loadFinetuned(run))
      assert.include(error.message, "is a pretrain run folder; expected a finetune output folder")
    }), 120_000)
})

const augment = { ...augmentPresets.finetune(8), size: [8, 8] as [number, number] }

const loopConfig = (overrides: Partial<DistillConfig> = {}): DistillConfig => ({
  teacher: tuned,
  imageSize: 8,
  batchSize: 4,
  epochs: 2,
  seed: 3,
  optimizer: { name: "sgd", learningRate: 0.2, scaling: "linear", weightDecay: 1e-4, warmupEpochs: 0 },
  temperature: 2,
  alpha: 0.5,
  // The tiny teacher is unsure (largest probabilities 0.10042–0.10046 at τ = 2): this keeps about half.
  confidenceThreshold: 0.10043,
  scaleByTemperatureSquared: true,
  student: { encoder: { ...tinyConfig.encoder, baseWidth: 2 }, init: "random" },
  checkpointEvery: 1,
  keepCheckpoints: 2,
  ...overrides
})

/** 12 unlabeled images then 8 labeled ones: 5 batches of 4 per epoch. */
const mixedSource = () => concatSources(withoutLabels(synthetic({ size: 12, seed: 4, imageSize: 8 })), synthetic({ size: 8, seed: 6, imageSize: 8 }))

interface Record {
  losses: Array<number>
  recomputed: Array<number>
  teacherAfter: Array<Array<number>> | undefined
}

/**
 * The objective the pipeline builds, wrapped: before each step the loss is recomputed outside it from
 * the same view, teacher and student (the student's weights put back after), and the teacher's weights
 * are read just before it is disposed.
 */
const recordingFactory = (saved: SavedFinetuned, config: DistillConfig, record: Record) => () => {
  const teacher = buildFinetuned(saved)
  const student = studentFrom({ encoder: { ...config.student.encoder, inputShape: [8, 8, 3] }, numClasses: 10, seed: config.seed })
  const objective = distillObjective({ teacher, student }, config)
  const wrapped: Objective = {
    ...objective,
    step: (batch: ImageBatch, context) => {
      const kept = student.weights.map((w) => tf.keep(w.read().clone()))
      const loss = tf.tidy(() => {
        const { images } = toTensors(batch)
        const view = simclrView(images, augment, batchSeed(batch, config.seed))
        const targets = teacherTargets(teacher, view, { temperature: config.temperature })
        const logits = student.apply(view, { training: true }) as tf.Tensor2D
        const labels = batch.labels ?? new Int32Array(batch.size).fill(-1)
        return distillLoss(logits, targets, {
          temperature: config.temperature,
          alpha: config.alpha,
          labels,
          confidenceThreshold: config.confidenceThreshold,
          scaleByTemperatureSquared: config.scaleByTemperatureSquared
        }).dataSync()[0]!
      })
      student.weights.forEach((w, i) => w.write(kept[i]!))
      tf.dispose(kept)
      record.recomputed.push(loss)
      const result = objective.step(batch, context)
      record.losses.push(result.loss)
      return result
    },
    dispose: () => {
      record.teacherAfter = teacher.weights.map((w) => values(w.read()))
      objective.dispose()
    }
  }
  return wrapped
}

const metricLines = (out: string) =>
  readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number; loss: number; kept: number; dropped: number; agreement: number; labeled?: number; labeledAccuracy?: number })

describe("distillObjective in trainLoop", () => {
  it.effect("the teacher stays bit-identical; each loss is distillLoss of the same tensors; stop after 3 steps and resume equals an uninterrupted run; no tensor leaks", () =>
    Effect.gen(function*() {
      yield* prepare
      const config = loopConfig()
      const saved = yield* readFinetuned(tuned)
      const teacherBefore = (() => {
        const t = buildFinetuned(saved)
        const v = t.weights.map((w) => values(w.read()))
        t.dispose()
        return v
      })()
      const before = tf.memory().numTensors
      const whole: Record = { losses: [], recomputed: [], teacherAfter: undefined }
      const full = join(root, "loop-full")
      const result = yield* trainLoop(mixedSource(), config, recordingFactory(saved, config, whole), { out: full })
      assert.deepStrictEqual([result.steps, result.ending], [10, "completed"])
      assert.strictEqual(tf.memory().numTensors, before, "tensors left behind by a distillation run")
      // Only the student learned.
      assert.deepStrictEqual(whole.teacherAfter, teacherBefore)
      // The loss the step reports is distillLoss of the same view, targets and student, bit for bit on cpu.
      assert.deepStrictEqual(whole.losses, whole.recomputed)
      for (const l of whole.losses) assert.isTrue(Number.isFinite(l) && l >= 0)
      const lines = metricLines(full)
      assert.deepStrictEqual(lines.map((l) => l.loss), whole.losses)
      for (const l of lines) {
        assert.strictEqual(l.kept + l.dropped, 4)
        assert.isTrue(l.agreement >= 0 && l.agreement <= 1)
      }
      assert.isTrue(lines.some((l) => l.kept > 0) && lines.some((l) => l.dropped > 0), "the threshold keeps some images and drops others")
      // Batches holding images of the labeled part report their accuracy; all-unlabeled ones do not.
      assert.isTrue(lines.some((l) => l.labeled !== undefined && l.labeledAccuracy !== undefined))
      assert.isTrue(lines.some((l) => l.labeled === undefined))

      // Stopped after 3 steps, then resumed by the same call without the limit.
      const split = join(root, "loop-split")
      const first: Record = { losses: [], recomputed: [], teacherAfter: undefined }
      const stopped = yield* trainLoop(mixedSource(), { ...config, maxSteps: 3 }, recordingFactory(saved, config, first), { out: split })
      assert.deepStrictEqual([stopped.steps, stopped.ending], [3, "max-steps"])
      const second: Record = { losses: [], recomputed: [], teacherAfter: undefined }
      const resumed = yield* trainLoop(mixedSource(), config, recordingFactory(saved, config, second), { out: split })
      assert.deepStrictEqual([resumed.steps, resumed.resumedFrom], [10, 3])
      assert.deepStrictEqual([...first.losses, ...second.losses], whole.losses)
      const [a, b] = [Option.getOrThrow(yield* readLatestCheckpoint(join(full, "checkpoints"))), Option.getOrThrow(yield* readLatestCheckpoint(join(split, "checkpoints")))]
      assert.strictEqual(a.step, 10)
      assert.deepStrictEqual([...b.weights.keys()], [...a.weights.keys()])
      for (const [name, w] of a.weights) assert.deepStrictEqual(Array.from(b.weights.get(name)!.values), Array.from(w.values), name)
      // The student is what the checkpoint holds: the half-width encoder and a supervised head, no teacher weights.
      assert.isTrue(a.weights.has("head_supervised.dense/kernel"))
      assert.deepStrictEqual(a.weights.get("conv1/kernel")!.shape, [3, 3, 3, 2])
      assert.strictEqual(tf.memory().numTensors, before, "tensors left behind by the stopped and resumed runs")
    }), 300_000)
})

describe("distill", () => {
  it.effect("student.init pretrained starts from the teacher's pre-trained encoder and exports the student; a narrower one is refused by name", () =>
    Effect.gen(function*() {
      yield* prepare
      const out = join(root, "pipeline-pretrained")
      // Learning rate 0: the trained weights stay where they started (the batch-norm statistics move).
      const config = loopConfig({
        student: { encoder: tinyConfig.encoder, init: "pretrained" },
        optimizer: { name: "sgd", learningRate: 0, scaling: "linear", weightDecay: 0, warmupEpochs: 0 },
        alpha: 0,
        confidenceThreshold: 0,
        maxSteps: 1
      })
      const before = tf.memory().numTensors
      const result = yield* distill(withoutLabels(synthetic({ size: 8, seed: 4, imageSize: 8 })), config, { out, test: testSource() })
      assert.deepStrictEqual([result.steps, result.ending, result.test?.count], [1, "max-steps", 20])
      assert.strictEqual(tf.memory().numTensors, before, "tensors left behind by distill")
      assert.isTrue(existsSync(join(out, "student", "model.json")) && existsSync(join(out, "distill.json")))
      const pre = Option.getOrThrow(yield* readLatestCheckpoint(join(run, "checkpoints")))
      const student = Option.getOrThrow(yield* readLatestCheckpoint(join(out, "checkpoints")))
      let compared = 0
      for (const [name, w] of student.weights) {
        if (name.startsWith("head_supervised") || /moving_(mean|variance)/.test(name)) continue
        assert.deepStrictEqual(Array.from(w.values), Array.from(pre.weights.get(name)!.values), name)
        compared++
      }
      assert.isTrue(compared > 20)
      assert.strictEqual(result.studentParameters, [...student.weights.values()].reduce((n, w) => n + w.values.length, 0))

      const refused = yield* Effect.flip(distill(synthetic({ size: 8, seed: 4, imageSize: 8 }), { ...config, student: { encoder: { ...tinyConfig.encoder, baseWidth: 2 }, init: "pretrained" } }, { out: join(root, "refused") }))
      assert.include(refused.message, 'student.init "pretrained" needs the pre-trained encoder\'s config')
      assert.isFalse(existsSync(join(root, "refused")))
    }), 120_000)
})

const cli = fileURLToPath(new URL("../bin/simclr.js", import.meta.url))
const runCli = (argv: Array<string>) => spawnSync(process.execPath, [cli, ...argv], { encoding: "utf8", timeout: 300_000 })

describe("simclr distill", () => {
  it.effect("end to end: writes student/model.json and distill.json, resumes on a re-run; a bad flag is named", () =>
    Effect.gen(function*() {
      yield* prepare
      const out = join(root, "cli-distill")
      const args = [
        "distill", "--teacher", tuned, "--data", "synthetic:12", "--labeled", "synthetic:8", "--alpha", "0.3",
        "--student-width", "2", "--out", out, "--test", "synthetic:10", "--epochs", "1", "--batch-size", "4",
        "--temperature", "1", "--learning-rate", "0.05", "--seed", "1", "--backend", "cpu"
      ]
      const done = runCli(args)
      assert.strictEqual(done.status, 0, done.stderr)
      assert.isTrue(existsSync(join(out, "student", "model.json")))
      const result = JSON.parse(readFileSync(join(out, "distill.json"), "utf8")) as {
        steps: number
        ending: string
        teacherParameters: number
        studentParameters: number
        test: { count: number; top1: number; top5: number }
      }
      assert.deepStrictEqual([result.steps, result.ending, result.test.count], [5, "completed", 10])
      assert.isTrue(result.studentParameters > 0 && result.studentParameters < result.teacherParameters)
      assert.isTrue(result.test.top5 >= result.test.top1)
      const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as DistillConfig
      assert.deepStrictEqual([config.teacher, config.alpha, config.student.init, config.student.encoder.baseWidth, config.labeled], [tuned, 0.3, "random", 2, "synthetic:8"])
      // A re-run of the same command resumes from the end: no step is repeated, the student is exported again.
      const again = runCli(args)
      assert.strictEqual(again.status, 0, again.stderr)
      assert.strictEqual(metricLines(out).length, 5)

      const bad = runCli(["distill", "--teacher", tuned, "--data", "synthetic:12", "--out", join(root, "bad"), "--alpha", "1.5", "--backend", "cpu"])
      assert.strictEqual(bad.status, 1)
      assert.include(bad.stderr, "invalid configuration (--alpha 1.5):\nmust be a number in [0, 1]")
      const noLabels = runCli(["distill", "--teacher", tuned, "--data", "synthetic:12", "--out", join(root, "bad"), "--alpha", "0.5", "--backend", "cpu"])
      assert.include(noLabels.stderr, "invalid configuration (--alpha 0.5):\nmixes in the cross-entropy of labeled images: give them with --labeled <data>")
      const narrow = runCli(["distill", "--teacher", tuned, "--data", "synthetic:12", "--out", join(root, "bad"), "--student-width", "2", "--student-init", "pretrained", "--backend", "cpu"])
      assert.include(narrow.stderr, "invalid configuration (--student-init pretrained):\nneeds the teacher's encoder config")
      const notTeacher = runCli(["distill", "--teacher", run, "--data", "synthetic:12", "--out", join(root, "bad"), "--backend", "cpu"])
      assert.include(notTeacher.stderr, `invalid configuration (--teacher ${run}):`)
      assert.include(notTeacher.stderr, "is a pretrain run folder; expected a finetune output folder")
      assert.isFalse(existsSync(join(root, "bad")))
    }), 300_000)
})
