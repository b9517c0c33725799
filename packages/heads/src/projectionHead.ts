import * as tfl from "@tensorflow/tfjs-layers"
import { SimclrBatchNormalization } from "./layers.ts"
import { booleanOption, describe, InvalidArgumentError, knownKeys, numberIn, oneOf } from "@simclr/core"

/**
 * @since 0.1.0
 * @category models
 */
export type ProjectionMode = "none" | "linear" | "nonlinear"

/**
 * @since 0.1.0
 * @category models
 */
export interface ProjectionHeadConfig {
  /** Width of the encoder output h. */
  readonly inputDim: number
  /** `"nonlinear"` (default; the official MLP), `"linear"` (one layer) or `"none"` (z = h). */
  readonly mode?: ProjectionMode
  /** Layers of the nonlinear head: 2 (SimCLR v1) or 3 (v2, the official default). Default 3. */
  readonly numLayers?: number
  /** Width of the hidden layers. Default `inputDim` (official). */
  readonly hiddenDim?: number
  /** Width of z. Default 128 (official `proj_out_dim`). */
  readonly outputDim?: number
  /**
   * Whether the last layer's batch norm has a β (bias). Default false: the official head's last BN
   * has γ only (a {@link SimclrBatchNormalization} with `center: false`, no β weight); lightly's
   * `SimCLRProjectionHead` has both (tfjs-layers' own `BatchNormalization`).
   */
  readonly lastBatchNormCenter?: boolean
  /** BN moving-average decay. Default 0.9. */
  readonly batchNormMomentum?: number
  /** BN ε. Default 1e-5. */
  readonly batchNormEpsilon?: number
  /** Seed of the N(0, 0.01²) dense initialisers. Default 0. */
  readonly seed?: number
  readonly name?: string
}

const KEYS = ["inputDim", "mode", "numLayers", "hiddenDim", "outputDim", "lastBatchNormCenter", "batchNormMomentum", "batchNormEpsilon", "seed", "name"] as const

/**
 * The SimCLR projection head g(·) as a `tf.LayersModel` from h [B, inputDim] to the list
 * `[h, layer 1 output, …, z]` (`numLayers + 1` tensors; `[h, z]` when linear and when none, with z = h), so a
 * fine-tuning representation can be taken from any layer: output k is the official `ft_proj_selector`
 * k (0 = h), which `simclrModel`'s `ftProjSelector` option selects. Official structure
 * (google-research/simclr `ProjectionHead`): every layer is a dense layer without bias (initialised
 * N(0, 0.01²)) followed by batch norm (momentum 0.9, ε 1e-5); ReLU between layers; the last batch norm
 * has no β (`lastBatchNormCenter`).
 *
 * @example
 * ```ts
 * const head = projectionHead({ inputDim: 2048, numLayers: 3 }) // SimCLR v2
 * const [h, l1, l2, z] = head.apply(features) as tf.Tensor[]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const projectionHead = (config: ProjectionHeadConfig): tfl.LayersModel => {
  const c = knownKeys("config", config, KEYS)
  const inputDim = numberIn("config.inputDim", c["inputDim"], Number.NaN, [1, 1 << 20], { integer: true })
  if (Number.isNaN(inputDim)) throw new InvalidArgumentError("config.inputDim", `is required: the width of the encoder output, got ${describe(c["inputDim"])}`)
  const mode = oneOf("config.mode", c["mode"], ["none", "linear", "nonlinear"], "nonlinear")
  const numLayers = numberIn("config.numLayers", c["numLayers"], 3, [1, 16], { integer: true })
  const hiddenDim = numberIn("config.hiddenDim", c["hiddenDim"], inputDim, [1, 1 << 20], { integer: true })
  const outputDim = numberIn("config.outputDim", c["outputDim"], 128, [1, 1 << 20], { integer: true })
  const momentum = numberIn("config.batchNormMomentum", c["batchNormMomentum"], 0.9, [0, 1])
  const epsilon = numberIn("config.batchNormEpsilon", c["batchNormEpsilon"], 1e-5, [0, 1], { openMin: true })
  const seed = numberIn("config.seed", c["seed"], 0, [0, Number.MAX_SAFE_INTEGER], { integer: true })
  const lastCenter = booleanOption("config.lastBatchNormCenter", c["lastBatchNormCenter"], false)
  const name = typeof c["name"] === "string" ? c["name"] : "projection_head"

  const input = tfl.input({ shape: [inputDim], name: `${name}.h` })
  const outputs: Array<tfl.SymbolicTensor> = [input]
  const layerCount = mode === "none" ? 0 : mode === "linear" ? 1 : numLayers
  let x = input
  for (let j = 0; j < layerCount; j++) {
    const last = j === layerCount - 1
    x = tfl.layers
      .dense({
        units: last ? outputDim : hiddenDim,
        useBias: false,
        kernelInitializer: tfl.initializers.randomNormal({ mean: 0, stddev: 0.01, seed: seed * 100 + j + 1 }), // never 0: tfjs reads seed 0 as "unseeded"
        name: `${name}.${j}.dense`
      })
      .apply(x) as tfl.SymbolicTensor
    // The official head's last BN has no β (center=False): a layer with no β weight at all, which
    // tfjs-layers' own BatchNormalization cannot train (see SimclrBatchNormalization).
    const bnArgs = { momentum, epsilon, name: `${name}.${j}.bn` }
    const bn = last && !lastCenter ? new SimclrBatchNormalization({ ...bnArgs, center: false }) : tfl.layers.batchNormalization(bnArgs)
    x = bn.apply(x) as tfl.SymbolicTensor
    if (!last) x = tfl.layers.reLU({ name: `${name}.${j}.relu` }).apply(x) as tfl.SymbolicTensor
    outputs.push(x)
  }
  if (mode === "none") {
    // A model needs a layer: z = h through an identity activation.
    outputs.push(tfl.layers.activation({ activation: "linear", name: `${name}.identity` }).apply(input) as tfl.SymbolicTensor)
  }
  return tfl.model({ inputs: input, outputs, name })
}

/**
 * Head recipes for an encoder of width `inputDim`: `v1` (2 layers), `v2` (3 layers, official default),
 * `lightly` (2 layers, last BN with β as lightly's `SimCLRProjectionHead`), all 128-d out.
 *
 * @since 0.1.0
 * @category constructors
 */
export const headPresets = {
  v1: (inputDim: number): ProjectionHeadConfig => ({ inputDim, mode: "nonlinear", numLayers: 2, outputDim: 128 }),
  v2: (inputDim: number): ProjectionHeadConfig => ({ inputDim, mode: "nonlinear", numLayers: 3, outputDim: 128 }),
  lightly: (inputDim: number): ProjectionHeadConfig => ({ inputDim, mode: "nonlinear", numLayers: 2, outputDim: 128, lastBatchNormCenter: true })
} as const
