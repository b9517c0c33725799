/**
 * SimCLR v2 on the one training loop: the loss of a step equals a float64 computation of its formula
 * from the same tensors (both `positives`), the momentum network changes only by its moving average
 * (no gradient, no optimiser reaches it), the queue holds exactly the momentum network's keys in FIFO
 * order, and a resumed run equals an uninterrupted one step for step, queue and momentum weights
 * included (cpu).
 */
import { assert, describe, it } from "@effect/vitest"
import { type ImageBatch, imageBatches, makeTwoViews } from "@simclr/data-stream"
import * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import { Effect, Option, Stream } from "effect"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import { tinyConfig, tinySource } from "./tinyConfig.ts"
import {
  buildSimclrModel,
  type Objective,
  type PretrainConfig,
  pretrain,
  readLatestCheckpoint,
  selectBackend,
  type SimclrV2Config,
  simclrV2Objective,
  type StepMetrics,
  viewConfigOf
} from "../src/index.ts"

const root = mkdtempSync(join(tmpdir(), "simclr-v2-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** The tiny network of pretrain.test.ts with a 3-layer head; 8 keys a step into a 12-row queue (it wraps on the 2nd step). */
const configOf = (v2: SimclrV2Config): PretrainConfig & { readonly v2: SimclrV2Config } => ({
  ...tinyConfig,
  head: { ...tinyConfig.head, numLayers: 3 },
  v2
})
const source = () => tinySource(16)

const firstBatches = (config: PretrainConfig, count: number): Effect.Effect<Array<ImageBatch>, unknown> =>
  Effect.map(
    Stream.runCollect(Stream.take(imageBatches(source(), { batchSize: config.batchSize, imageSize: config.imageSize, epochs: 1, seed: config.seed, dropRemainder: true }), count)),
    (chunk) => [...chunk]
  )

/** Rows of a [rows, d] float32 tensor as float64 arrays. */
const rowsOf = (t: tf.Tensor): Array<Array<number>> => (t.arraySync() as Array<Array<number>>).map((r) => r.map(Number))

const unit = (v: Array<number>): Array<number> => {
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0))
  return v.map((x) => x / Math.max(norm, 1e-6))
}
const dot = (a: Array<number>, b: Array<number>): number => a.reduce((s, x, i) => s + x * b[i]!, 0)
const logSumExp = (xs: Array<number>): number => {
  const m = Math.max(...xs)
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0))
}

/** NT-Xent in float64: every one of the 2N rows an anchor against the other 2N − 1 and the queue; mean over anchors. */
const ntXent64 = (z1: Array<Array<number>>, z2: Array<Array<number>>, queue: Array<Array<number>>, tau: number): number => {
  const z = [...z1, ...z2].map(unit)
  const q = queue.map(unit)
  const n = z1.length
  let total = 0
  for (let i = 0; i < 2 * n; i++) {
    const logits = [...z.flatMap((r, j) => (j === i ? [] : [dot(z[i]!, r) / tau])), ...q.map((r) => dot(z[i]!, r) / tau)]
    total += logSumExp(logits) - dot(z[i]!, z[(i + n) % (2 * n)]!) / tau
  }
  return total / (2 * n)
}

/** MoCo's InfoNCE in float64, symmetrised: query z₁ᵢ against key k₂ᵢ and the queue, z₂ᵢ against k₁ᵢ; mean of the two means. */
const moco64 = (z1: Array<Array<number>>, z2: Array<Array<number>>, k1: Array<Array<number>>, k2: Array<Array<number>>, queue: Array<Array<number>>, tau: number): number => {
  const one = (qs: Array<Array<number>>, ks: Array<Array<number>>) =>
    qs.reduce((s, qi, i) => {
      const q = unit(qi)
      const positive = dot(q, unit(ks[i]!)) / tau
      return s + logSumExp([positive, ...queue.map((r) => dot(q, unit(r)) / tau)]) - positive
    }, 0) / qs.length
  return (one(z1, k2) + one(z2, k1)) / 2
}

/** The online z₁, z₂ of a batch's views (training mode, as the step runs them), and the views. */
const onlineZ = (model: tfl.LayersModel, batch: ImageBatch, config: PretrainConfig) =>
  tf.tidy(() => {
    const views = makeTwoViews(batch, viewConfigOf(config), config.seed)
    const out = model.apply(tf.concat([views.view1, views.view2], 0), { training: true }) as Array<tf.Tensor>
    views.dispose()
    const z = out[out.length - 1]!
    const n = batch.size
    return [rowsOf(tf.slice(z, [0, 0], [n, -1])), rowsOf(tf.slice(z, [n, 0], [n, -1]))] as const
  })

/** A second network holding the momentum network's weights (from the snapshot): its keys k₁, k₂ of a batch. */
const momentumKeys = (snapshot: Readonly<Record<string, tf.Tensor>>, batch: ImageBatch, config: PretrainConfig) => {
  const { model } = buildSimclrModel(config)
  try {
    for (const w of model.weights) w.write(snapshot[`momentum/${w.originalName}`]!)
    return onlineZ(model, batch, config)
  } finally {
    model.dispose()
  }
}

const queueRows = (tensors: Readonly<Record<string, tf.Tensor>>): Array<Array<number>> => {
  const filled = tensors["memory_queue/filled"]!.dataSync()[0]!
  return rowsOf(tensors["memory_queue/buffer"]!).slice(0, filled)
}

/**
 * The queue's rows are the expected keys in some order (FIFO position modulo the buffer): each expected
 * row matches one row to 1e-5 (keys in float32 against the float64 normalisation of the same z).
 */
const assertSameRows = (actual: Array<Array<number>>, expected: Array<Array<number>>, what: string): void => {
  assert.strictEqual(actual.length, expected.length, `${what}: rows`)
  const unused = new Set(actual.keys())
  for (const [i, row] of expected.entries()) {
    const match = [...unused].find((j) => actual[j]!.every((x, c) => Math.abs(x - row[c]!) < 1e-5))
    assert.isDefined(match, `${what}: expected key ${i} is not in the queue`)
    unused.delete(match!)
  }
}

/** Copies of the snapshot's objective tensors (the live ones change in place). */
const copyObjective = (o: Objective): Record<string, tf.Tensor> =>
  Object.fromEntries(Object.entries(o.snapshot().objectiveTensors ?? {}).map(([n, t]) => [n, tf.clone(t)]))

const metrics = (out: string) => readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as StepMetrics)

describe("SimCLR v2 objective", () => {
  for (const positives of ["online", "momentum"] as const) {
    it.effect(`positives "${positives}": each step's loss is the float64 formula on the same tensors; the queue holds the momentum keys; the momentum network moves only by its average`, () =>
      Effect.gen(function*() {
        yield* selectBackend("cpu")
        const config = configOf({ queueSize: 12, momentum: 0.9, positives })
        const batches = yield* firstBatches(config, 3)
        const before = tf.memory().numTensors
        const objective = simclrV2Objective(config, { classes: undefined, examples: 16, stepsPerEpoch: 4, totalSteps: 8 })
        const expectedQueue: Array<Array<number>> = []
        for (const [step, batch] of batches.entries()) {
          const snapshot = objective.snapshot()
          const saved = copyObjective(objective)
          const [z1, z2] = onlineZ(snapshot.model, batch, config)
          const [k1, k2] = momentumKeys(saved, batch, config)
          const queue = queueRows(saved)
          assertSameRows(queue, expectedQueue, `before step ${step}`)
          const expected = positives === "online" || queue.length === 0 ? ntXent64(z1, z2, queue, config.temperature) : moco64(z1, z2, k1, k2, queue, config.temperature)
          const result = objective.step(batch, { step, epoch: 0, learningRate: 0.3 })
          // float32 cosines (|error| ≲ 1e-7 · √D) scaled by 1/τ = 2 and a log-sum-exp over ≤ 19 terms: ≲ 1e-6 absolute.
          assert.closeTo(result.loss, expected, 1e-5 * Math.max(1, expected), `step ${step}`)
          assert.strictEqual(result.metrics["queueRows"], queue.length)
          assert.strictEqual(result.metrics["momentum"], 0.9)
          // θ_m ← 0.9 θ_m + 0.1 θ_online for every trainable weight; the batch-norm statistics are the momentum network's own.
          const after = objective.snapshot()
          for (const w of after.model.trainableWeights) {
            const old = saved[`momentum/${w.originalName}`]!.dataSync()
            const online = w.read().dataSync()
            const now = after.objectiveTensors![`momentum/${w.originalName}`]!.dataSync()
            // One multiply-add in float32: half an ulp each of 0.9·a, 0.1·b and the sum, relative to the larger term.
            for (let i = 0; i < now.length; i++) assert.closeTo(now[i]!, 0.9 * old[i]! + 0.1 * online[i]!, 4e-7 * (Math.abs(old[i]!) + Math.abs(online[i]!)) + 1e-12, w.originalName)
          }
          // The keys of both views go into the queue, k₁ then k₂, oldest rows leaving first (12 rows).
          expectedQueue.push(...[...k1, ...k2].map(unit))
          expectedQueue.splice(0, Math.max(0, expectedQueue.length - 12))
          tf.dispose(Object.values(saved))
        }
        // A FIFO of 12 rows after 24 keys: the newest 12.
        assertSameRows(queueRows(objective.snapshot().objectiveTensors!), expectedQueue, "at the end")
        objective.dispose()
        assert.strictEqual(tf.memory().numTensors, before, "tensors left behind by the v2 objective")
      }))
  }

  for (const positives of ["online", "momentum"] as const) {
    it.effect(`positives "${positives}": a run stopped mid-way resumes and equals an uninterrupted run, queue and momentum network included`, () =>
      Effect.gen(function*() {
        yield* selectBackend("cpu")
        const config = configOf({ queueSize: 12, momentum: 0.9, momentumSchedule: "cosine", positives })
        const full = join(root, `full-${positives}`)
        const whole = yield* pretrain(source(), config, { out: full })
        assert.deepStrictEqual([whole.steps, whole.ending], [8, "completed"])
        const split = join(root, `split-${positives}`)
        let steps = 0
        const first = yield* pretrain(source(), config, { out: split, shouldStop: () => ++steps === 3 })
        assert.deepStrictEqual([first.steps, first.ending], [3, "stopped"])
        const second = yield* pretrain(source(), config, { out: split })
        assert.deepStrictEqual([second.steps, second.resumedFrom], [8, 3])
        const reference = metrics(full)
        assert.deepStrictEqual(metrics(split).map((m) => [m.loss, m.queueRows, m.momentum]), reference.map((m) => [m.loss, m.queueRows, m.momentum]))
        // The cosine schedule rises from 0.9 toward 1; the queue fills to its 12 rows.
        assert.strictEqual(reference[0]!.momentum, 0.9)
        assert.isTrue(reference.every((m, i) => i === 0 || m.momentum! > reference[i - 1]!.momentum!))
        assert.deepStrictEqual(reference.map((m) => m.queueRows), [0, 8, 12, 12, 12, 12, 12, 12])
        const a = Option.getOrThrow(yield* readLatestCheckpoint(join(full, "checkpoints")))
        const b = Option.getOrThrow(yield* readLatestCheckpoint(join(split, "checkpoints")))
        assert.deepStrictEqual([...b.objective.keys()].toSorted(), [...a.objective.keys()].toSorted())
        assert.isTrue([...a.objective.keys()].some((n) => n.startsWith("momentum/")))
        for (const [name, t] of a.objective) assert.deepStrictEqual(b.objective.get(name)!.values, t.values, name)
        for (const [name, t] of a.weights) assert.deepStrictEqual(b.weights.get(name)!.values, t.values, name)
      }))
  }

  it.effect("a v1 run folder refuses v2 (another recipe), and a v1 checkpoint cannot seed the v2 objective", () =>
    Effect.gen(function*() {
      yield* selectBackend("cpu")
      const config = configOf({ queueSize: 12, momentum: 0.9 })
      const v1 = Object.fromEntries(Object.entries(config).filter(([k]) => k !== "v2")) as unknown as PretrainConfig
      const out = join(root, "v1")
      yield* pretrain(source(), { ...v1, maxSteps: 1 }, { out })
      const refused = (yield* Effect.flip(pretrain(source(), { ...config, maxSteps: 2 }, { out }))) as { readonly _tag: string; readonly message: string }
      assert.strictEqual(refused._tag, "RunFolderError")
      assert.include(refused.message, "v2")
      const checkpoint = Option.getOrThrow(yield* readLatestCheckpoint(join(out, "checkpoints")))
      const objective = simclrV2Objective(config, { classes: undefined, examples: 16, stepsPerEpoch: 4, totalSteps: 8 })
      try {
        assert.throws(() => objective.restore(checkpoint), /no momentum network/)
      } finally {
        objective.dispose()
      }
    }))
})
