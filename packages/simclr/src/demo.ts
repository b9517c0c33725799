/**
 * The main job, `simclr demo`: pre-train the `demo` preset on the built-in synthetic shapes (upright and
 * gray by default), then score
 * three representations of held-out images with the same linear probe and kNN: the pre-trained encoder,
 * the same encoder at its random initialisation, and raw pixels.
 *
 * @since 0.1.0
 */
import { synthetic } from "@simclr/data-stream"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { writeFile } from "node:fs/promises"
import { join } from "node:path"
import { type Accuracy, knnEvaluate, linearEvaluate } from "./evaluate.ts"
import { extractFeatures, type Features } from "./extractFeatures.ts"
import { loadRun } from "./loadRun.ts"
import { buildSimclrModel, pretrain, type PretrainConfig, type PretrainOptions, type PretrainResult } from "./pretrain.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface DemoOptions extends PretrainOptions {
  /** The pre-training recipe; default `pretrainPresets.demo()`. */
  readonly config: PretrainConfig
  /** Synthetic images to pre-train on (their labels are used only by the probes); default 5000, seed 0. */
  readonly trainImages?: number
  /** Held-out synthetic images the probes are scored on; default 1000, seed 1. */
  readonly testImages?: number
  /** Largest rotation of the synthetic shapes, degrees (see `synthetic`); default 0 (upright). */
  readonly maxRotation?: number
  /** Colour or gray synthetic images (see `synthetic`); default "gray". */
  readonly color?: "rgb" | "gray"
  /** Epochs of the linear probe; default 100. */
  readonly probeEpochs?: number
  /** Called before each phase, for progress output. */
  readonly onPhase?: (phase: string) => void
}

/**
 * One row of the demo's table.
 *
 * @category models
 * @since 0.1.0
 */
export interface RepresentationScore {
  readonly name: "pre-trained" | "random init" | "raw pixels"
  readonly dim: number
  /** Linear probe on standardised features, top-1/top-5 on the held-out images. */
  readonly linear: Accuracy
  /** Weighted kNN (k = 200, t = 0.1). */
  readonly knn: Accuracy
}

/**
 * @category models
 * @since 0.1.0
 */
export interface DemoResult {
  readonly pretrain: PretrainResult
  readonly rows: ReadonlyArray<RepresentationScore>
  readonly seconds: number
}

/** Linear probe and kNN of one representation (train features → held-out features). */
const score = (name: RepresentationScore["name"], train: Features, test: Features, classes: number, epochs: number): RepresentationScore => {
  const x = tf.tensor2d(train.values, [train.count, train.dim])
  const xt = tf.tensor2d(test.values, [test.count, test.dim])
  try {
    // Standardised, so raw pixels, an untrained encoder and a trained one train at the same rate.
    const linear = linearEvaluate(x, train.labels!, xt, test.labels!, { classes, epochs, batchSize: 256, learningRate: 0.1, standardize: true })
    const knn = knnEvaluate(x, train.labels!, xt, test.labels!, { classes })
    return { name, dim: train.dim, linear, knn }
  } finally {
    tf.dispose([x, xt])
  }
}

/**
 * Pre-trains on synthetic shapes in `options.out` (resuming if that run exists), then scores the
 * pre-trained encoder's h, the randomly initialised encoder's h and raw pixels; writes `demo.json` into
 * the run folder.
 *
 * @category training
 * @since 0.1.0
 */
export const demo = (options: DemoOptions) =>
  Effect.gen(function*() {
    const started = performance.now()
    const { config } = options
    const size = config.imageSize
    // Upright gray shapes: what is left to tell two images apart after crops, flips and colour jitter is
    // mostly the shape. With colours (or any rotation) a few hundred steps learn colour (or angle) first.
    const look = { maxRotation: options.maxRotation ?? 0, color: options.color ?? "gray" }
    const train = synthetic({ size: options.trainImages ?? 5000, seed: 0, imageSize: size, ...look })
    const test = synthetic({ size: options.testImages ?? 1000, seed: 1, imageSize: size, ...look })
    const epochs = options.probeEpochs ?? 100
    const classes = 10

    options.onPhase?.(`pre-training on ${train.size} synthetic images`)
    const pretrained = yield* pretrain(train, config, options)

    const both = (model: Parameters<typeof extractFeatures>[0], output = 0) =>
      Effect.all([extractFeatures(model, train, { imageSize: size, output }), extractFeatures(model, test, { imageSize: size, output })])

    options.onPhase?.("scoring the pre-trained encoder")
    const loaded = yield* loadRun(options.out)
    const [trainH, testH] = yield* both(loaded.model).pipe(Effect.ensuring(Effect.sync(() => loaded.model.dispose())))
    const rows: Array<RepresentationScore> = [score("pre-trained", trainH, testH, classes, epochs)]

    options.onPhase?.("scoring the same encoder at random initialisation")
    const fresh = buildSimclrModel(config)
    const [trainR, testR] = yield* both(fresh.model).pipe(Effect.ensuring(Effect.sync(() => fresh.model.dispose())))
    rows.push(score("random init", trainR, testR, classes, epochs))

    options.onPhase?.("scoring raw pixels")
    const [trainP, testP] = yield* both((images) => images)
    rows.push(score("raw pixels", trainP, testP, classes, epochs))

    const result: DemoResult = { pretrain: pretrained, rows, seconds: (performance.now() - started) / 1000 }
    yield* Effect.promise(() => writeFile(join(options.out, "demo.json"), JSON.stringify({ ...result, backend: tf.getBackend() }, null, 2) + "\n"))
    return result
  })

const pct = (v: number) => `${(100 * v).toFixed(1).padStart(5)} %`
const margin = (a: number, b: number) => `${a >= b ? "+" : ""}${(100 * (a - b)).toFixed(1)} points`

/**
 * The demo's result as a text table, with chance level and the margins of the pre-trained encoder.
 *
 * @category formatting
 * @since 0.1.0
 */
export const formatDemoTable = (result: DemoResult): string => {
  const lines = [
    "representation   dim   linear top-1   kNN top-1",
    ...result.rows.map((r) => `${r.name.padEnd(14)} ${String(r.dim).padStart(5)}   ${pct(r.linear.top1).padStart(12)}   ${pct(r.knn.top1).padStart(9)}`),
    `(chance: 10.0 %; ${result.rows[0]?.linear.count ?? 0} held-out images)`
  ]
  const [pre, random, pixels] = result.rows
  if (pre !== undefined && random !== undefined && pixels !== undefined) {
    lines.push(
      `pre-trained vs random init: linear ${margin(pre.linear.top1, random.linear.top1)}, kNN ${margin(pre.knn.top1, random.knn.top1)}; ` +
        `vs raw pixels: linear ${margin(pre.linear.top1, pixels.linear.top1)}, kNN ${margin(pre.knn.top1, pixels.knn.top1)}`
    )
  }
  return lines.join("\n")
}
