/**
 * Independent references for the tests: the queue as a plain-JavaScript FIFO of rows (written one row
 * at a time), small model helpers, and the float64 momentum update.
 */
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { resnet } from "@simclr/encoders"
import { projectionHead, simclrModel } from "@simclr/heads"
import { uniformArray } from "@simclr/test-utils"

/** MoCo's queue, one row at a time: rows[pointer] ← key, pointer ← pointer + 1 mod size. */
export class FifoModel {
  readonly size: number
  readonly dim: number
  readonly rows: Array<Float32Array>
  pointer = 0
  filled = 0
  /** Every key ever written, oldest first. */
  readonly history: Array<Float32Array> = []

  constructor(size: number, dim: number) {
    this.size = size
    this.dim = dim
    this.rows = Array.from({ length: size }, () => new Float32Array(dim))
  }

  push(batch: ReadonlyArray<Float32Array>): void {
    for (const row of batch) {
      this.rows[this.pointer] = row
      this.pointer = (this.pointer + 1) % this.size
      this.filled = Math.min(this.size, this.filled + 1)
      this.history.push(row)
    }
  }

  /** The whole buffer, flattened. */
  buffer(): Array<number> {
    return this.rows.flatMap((r) => Array.from(r))
  }

  /** The rows queueNegatives must hand out: the first `filled` rows of the buffer. */
  negatives(): Array<number> {
    return this.rows.slice(0, this.filled).flatMap((r) => Array.from(r))
  }

  /** The keys a FIFO of `size` holds: the last `filled` ever written. */
  newest(): Array<Array<number>> {
    return this.history.slice(this.history.length - this.filled).map((r) => Array.from(r))
  }
}

/** `b` rows of width `dim`, seeded, as Float32Arrays and as a float32 tensor. */
export const randomRows = (b: number, dim: number, seed: number): { rows: Array<Float32Array>; tensor: tf.Tensor2D } => {
  const flat = uniformArray(b * dim, seed, { min: -1, max: 1 })
  const rows = Array.from({ length: b }, (_, i) => flat.slice(i * dim, (i + 1) * dim))
  return { rows, tensor: tf.tensor2d(flat, [b, dim]) }
}

/** Rows as sorted strings, to compare multisets of rows. */
export const rowSet = (rows: ReadonlyArray<ReadonlyArray<number>>): Array<string> => rows.map((r) => r.join(",")).toSorted()

/** Rows of a [n, d] tensor. */
export const rowsOf = (t: tf.Tensor): Array<Array<number>> => t.arraySync() as Array<Array<number>>

/** A real SimCLR model at a tiny width: ResNet-18 (1 block per group, 4 channels) + 3-layer v2 head. */
export const tinySimclr = (options: { readonly sk?: boolean } = {}): tfl.LayersModel => {
  const encoder = options.sk === true
    // ResNet-50 blocks with selective kernels (SkStreamSum, SkMix) and the ResNet-D stem.
    ? resnet({ depth: 50, skRatio: 0.0625, stem: "cifar", baseWidth: 2, blocksPerGroup: [1, 1, 1, 1], inputShape: [8, 8, 3], seed: 3 })
    : resnet({ depth: 18, stem: "cifar", baseWidth: 4, blocksPerGroup: [1, 1, 1, 1], inputShape: [8, 8, 3], seed: 3, zeroInitLastBlockGamma: false })
  const head = projectionHead({ inputDim: encoder.outputs[0]!.shape[1] as number, numLayers: 3, hiddenDim: 8, outputDim: 4, seed: 2 })
  return simclrModel(encoder, head, { ftProjSelector: 1 })
}

/** Every batch-norm-like layer of a model tree (nested models included). */
export const batchNorms = (model: tfl.LayersModel): Array<tfl.layers.Layer> => {
  const out: Array<tfl.layers.Layer> = []
  const walk = (m: { readonly layers: ReadonlyArray<tfl.layers.Layer> }): void => {
    for (const l of m.layers) {
      const nested = (l as unknown as { layers?: ReadonlyArray<tfl.layers.Layer> }).layers
      if (nested !== undefined) walk({ layers: nested })
      else if (l.getClassName().endsWith("BatchNormalization")) out.push(l)
    }
  }
  walk(model)
  return out
}

/** A weight of a layer by its last name part (`moving_mean`, `gamma`, …). */
export const weightOf = (layer: tfl.layers.Layer, suffix: string): tfl.LayerVariable => {
  const w = layer.weights.find((v) => v.originalName.endsWith(`/${suffix}`))
  if (w === undefined) throw new Error(`${layer.name} has no ${suffix}`)
  return w
}

/** Every weight's values by original name (names are unique in these models). */
export const valuesByName = (model: tfl.LayersModel): Map<string, Float32Array> => {
  const out = new Map<string, Float32Array>()
  for (const w of model.weights) {
    if (out.has(w.originalName)) throw new Error(`two weights named ${w.originalName}`)
    out.set(w.originalName, w.read().dataSync() as Float32Array)
  }
  return out
}

/** Overwrites the given weights with seeded values (so online and target differ everywhere). */
export const perturb = (weights: ReadonlyArray<tfl.LayerVariable>, seed: number, scale = 0.5): void => {
  weights.forEach((w, i) => {
    tf.tidy(() => {
      const size = w.shape.reduce<number>((a, b) => a * (b ?? 1), 1)
      const noise = uniformArray(size, seed * 1000 + i, { min: -scale, max: scale })
      w.write(tf.add(w.read(), tf.tensor(noise, w.shape as Array<number>)))
    })
  })
}

/** Disposes models and returns nothing. */
export const disposeModels = (...models: ReadonlyArray<tfl.LayersModel>): void => {
  for (const m of models) m.dispose()
}
