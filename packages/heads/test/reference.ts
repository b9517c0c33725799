/**
 * The projection head written out in plain JavaScript (float64), from the weights read off a model, as
 * the independent reference for the tests; and small model helpers (weights by name, save → load).
 */
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { normalArray, uniformArray } from "@simclr/test-utils"

export type Matrix = Array<Array<number>>

export const matrix = (t: tf.Tensor): Matrix => t.arraySync() as Matrix

export const matmul = (x: Matrix, w: Matrix): Matrix =>
  x.map((row) => w[0]!.map((_, j) => row.reduce((s, v, k) => s + v * w[k]![j]!, 0)))

/** Per-column mean and biased (÷B) variance. */
export const columnMoments = (x: Matrix): { mean: Array<number>; variance: Array<number>; unbiased: Array<number> } => {
  const b = x.length
  const mean = x[0]!.map((_, j) => x.reduce((s, row) => s + row[j]!, 0) / b)
  const squares = mean.map((m, j) => x.reduce((s, row) => s + (row[j]! - m) ** 2, 0))
  return { mean, variance: squares.map((s) => s / b), unbiased: squares.map((s) => s / (b - 1)) }
}

/** (x − mean)/√(variance + ε): the normalised value before γ and β. */
export const standardise = (x: Matrix, mean: ReadonlyArray<number>, variance: ReadonlyArray<number>, epsilon: number): Matrix =>
  x.map((row) => row.map((v, j) => (v - mean[j]!) / Math.sqrt(variance[j]! + epsilon)))

export interface BatchNormParams {
  readonly gamma: Array<number>
  readonly beta: Array<number> | undefined
  readonly movingMean: Array<number>
  readonly movingVariance: Array<number>
}

export interface HeadLayerParams {
  readonly kernel: Matrix
  readonly bn: BatchNormParams
}

const suffix = (w: tfl.LayerVariable): string => w.originalName.split("/").at(-1)!

const valuesOf = (w: tfl.LayerVariable): Array<number> => Array.from(w.read().dataSync())

export const batchNormParams = (layer: tfl.layers.Layer): BatchNormParams => {
  const byName = new Map(layer.weights.map((w) => [suffix(w), w]))
  const beta = byName.get("beta")
  return {
    gamma: valuesOf(byName.get("gamma")!),
    beta: beta === undefined ? undefined : valuesOf(beta),
    movingMean: valuesOf(byName.get("moving_mean")!),
    movingVariance: valuesOf(byName.get("moving_variance")!)
  }
}

/** The weights of each layer of a projection head named `name`, in order. */
export const headParams = (head: tfl.LayersModel, name = "projection_head"): Array<HeadLayerParams> => {
  const out: Array<HeadLayerParams> = []
  for (let j = 0; head.layers.some((l) => l.name === `${name}.${j}.dense`); j++) {
    out.push({
      kernel: matrix(head.getLayer(`${name}.${j}.dense`).weights[0]!.read()),
      bn: batchNormParams(head.getLayer(`${name}.${j}.bn`))
    })
  }
  return out
}

export interface HeadForward {
  /** [h, layer 1 output, …, z]. */
  readonly outputs: Array<Matrix>
  /** Each layer's dense output (the batch norm's input). */
  readonly preBn: Array<Matrix>
  /** Each layer's normalised value (x − μ)/√(σ² + ε), before γ and β. */
  readonly normalised: Array<Matrix>
  /** Each batch norm's batch moments (training) — mean and biased variance. */
  readonly moments: Array<ReturnType<typeof columnMoments>>
}

/**
 * dense (no bias) → BN (batch moments in training, moving ones in inference; γ, and β when present) →
 * ReLU between layers.
 */
export const headForward = (h: Matrix, layers: ReadonlyArray<HeadLayerParams>, training: boolean, epsilon: number): HeadForward => {
  const outputs = [h]
  const preBn: Array<Matrix> = []
  const normalised: Array<Matrix> = []
  const moments: Array<ReturnType<typeof columnMoments>> = []
  let x = h
  layers.forEach(({ kernel, bn }, j) => {
    const a = matmul(x, kernel)
    const m = columnMoments(a)
    const xhat = training ? standardise(a, m.mean, m.variance, epsilon) : standardise(a, bn.movingMean, bn.movingVariance, epsilon)
    const y = xhat.map((row) => row.map((v, c) => bn.gamma[c]! * v + (bn.beta?.[c] ?? 0)))
    x = j < layers.length - 1 ? y.map((row) => row.map((v) => Math.max(v, 0))) : y
    preBn.push(a)
    normalised.push(xhat)
    moments.push(m)
    outputs.push(x)
  })
  return { outputs, preBn, normalised, moments }
}

export const isBatchNorm = (layer: tfl.layers.Layer): boolean => layer.getClassName().endsWith("BatchNormalization")

/** Non-trivial state for one (built) batch-norm layer: γ ≈ N(1, 0.3²), β and moving mean N(0, 0.3²), moving variance U(0.5, 1.5). */
export const randomiseBatchNorm = (layer: tfl.layers.Layer, seed: number): void => {
  const values = layer.weights.map((w, k) => {
    const size = w.shape[0] as number
    const s = seed * 10 + k
    switch (suffix(w)) {
      case "gamma":
        return tf.tensor1d(normalArray(size, s, { mean: 1, std: 0.3 }))
      case "moving_variance":
        return tf.tensor1d(uniformArray(size, s, { min: 0.5, max: 1.5 }))
      default:
        return tf.tensor1d(normalArray(size, s, { std: 0.3 }))
    }
  })
  layer.setWeights(values)
  tf.dispose(values)
}

/** {@link randomiseBatchNorm} for every batch norm of `model`, nested models' too (fresh ones have γ 1, β 0, moving 0 and 1). */
export const randomiseBatchNorms = (model: tfl.LayersModel, seed: number): void => {
  const layers = model.layers.flatMap((l) => (l instanceof tfl.LayersModel ? l.layers : [l])).filter(isBatchNorm)
  layers.forEach((layer, i) => randomiseBatchNorm(layer, seed * 100 + i))
}

/**
 * N(0, 0.5²) kernels in every dense layer of `model` (nested models' too): the N(0, 0.01²) initial ones
 * make the batch norms' inputs so small that biased and unbiased variances, or a first-order step and
 * the true one, hardly differ.
 */
export const randomiseDense = (model: tfl.LayersModel, seed: number): void => {
  const layers = model.layers.flatMap((l) => (l instanceof tfl.LayersModel ? l.layers : [l])).filter((l) => l.getClassName() === "Dense")
  layers.forEach((layer, i) => {
    const values = layer.weights.map((w, k) => tf.tensor(normalArray(w.shape.reduce((a, b) => a! * b!, 1)!, seed * 100 + i * 10 + k, { std: 0.5 }), w.shape as Array<number>))
    layer.setWeights(values)
    tf.dispose(values)
  })
}

export interface RoundTrip {
  readonly artifacts: tf.io.ModelArtifacts
  readonly loaded: tfl.LayersModel
}

/** `model.save` to memory with tfjs' own IO, then `tfl.loadLayersModel` from that memory. */
export const roundTrip = async (model: tfl.LayersModel): Promise<RoundTrip> => {
  let saved: tf.io.ModelArtifacts | undefined
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } }
    })
  )
  return { artifacts: saved!, loaded: await tfl.loadLayersModel(tf.io.fromMemory(saved!)) }
}

interface LayerJson {
  readonly class_name: string
  readonly config: { readonly name: string; readonly center?: boolean; readonly layers?: ReadonlyArray<LayerJson> }
}

export interface SavedLayer {
  readonly className: string
  readonly name: string
  readonly center: boolean | undefined
}

const walk = (layers: ReadonlyArray<LayerJson>): Array<SavedLayer> =>
  layers.flatMap((l) => [{ className: l.class_name, name: l.config.name, center: l.config.center }, ...walk(l.config.layers ?? [])])

/** Every layer in a saved topology (nested models' layers too): class name, name and `center`. */
export const savedLayers = (artifacts: tf.io.ModelArtifacts): Array<SavedLayer> => walk((artifacts.modelTopology as unknown as LayerJson).config.layers ?? [])

/** A model's weights by their original (saved) names. */
export const weightNames = (weights: ReadonlyArray<tfl.LayerVariable>): Array<string> => weights.map((w) => w.originalName)

/** Frees every variable of a model, nested models' too (tfjs-layers' dispose skips nested ones). */
export const disposeAll = (...models: Array<tfl.LayersModel>): void => {
  for (const w of new Set(models.flatMap((m) => m.weights))) w.dispose()
}
