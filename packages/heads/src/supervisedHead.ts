import * as tfl from "@tensorflow/tfjs-layers"
import { booleanOption, InvalidArgumentError, knownKeys, numberIn } from "@simclr/core"

/**
 * @since 0.1.0
 * @category models
 */
export interface SupervisedHeadOptions {
  /**
   * Width of the representation. With it the head is a `tf.LayersModel` [B, inputDim] → [B, numClasses];
   * without it, a dense layer whose input width is taken from the first tensor it is applied to.
   */
  readonly inputDim?: number
  /** Zero-initialised kernel (the official `zero_init_logits_layer`, used for linear evaluation). */
  readonly zeroInit?: boolean
  /** Seed of the N(0, 0.01²) kernel initialiser. Default 0. */
  readonly seed?: number
  /** Default `"head_supervised"`; the dense layer is `<name>.dense` (weights `<name>.dense/kernel`, `/bias`). */
  readonly name?: string
}

/**
 * The official supervised head: one dense layer with bias from the fine-tuning representation to
 * `numClasses` logits, kernel initialised N(0, 0.01²), or zeros with `zeroInit` (the official
 * `zero_init_logits_layer`, used for linear evaluation); bias zeros.
 *
 * Without `options.inputDim` it returns that dense layer, as `tf.layers.dense` would: its input width is
 * inferred when it is first applied (to a tensor, or to a symbolic tensor in a functional model), and
 * its weights exist from then on. With `inputDim` it returns a one-layer `tf.LayersModel`
 * [B, inputDim] → [B, numClasses] (with `predict`, `save`, …). Both name the layer `<name>.dense`.
 *
 * @example
 * ```ts
 * const classifier = supervisedHead(10, { zeroInit: true })          // a layer: classifier.apply(ft)
 * const model = supervisedHead(10, { inputDim: 512, zeroInit: true }) // a model: model.predict(ft)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export function supervisedHead(numClasses: number, options: SupervisedHeadOptions & { readonly inputDim: number }): tfl.LayersModel
export function supervisedHead(numClasses: number, options?: Omit<SupervisedHeadOptions, "inputDim">): tfl.layers.Layer
export function supervisedHead(numClasses: number, options?: SupervisedHeadOptions): tfl.layers.Layer
export function supervisedHead(numClasses: number, options?: SupervisedHeadOptions): tfl.layers.Layer {
  const classes = numberIn("numClasses", numClasses, Number.NaN, [1, 1 << 24], { integer: true })
  if (Number.isNaN(classes)) throw new InvalidArgumentError("numClasses", "is required: the number of classes, got undefined")
  const o = knownKeys("options", options, ["inputDim", "zeroInit", "seed", "name"])
  const inputDim = numberIn("options.inputDim", o["inputDim"], Number.NaN, [1, 1 << 20], { integer: true })
  const zeroInit = booleanOption("options.zeroInit", o["zeroInit"], false)
  const seed = numberIn("options.seed", o["seed"], 0, [0, Number.MAX_SAFE_INTEGER], { integer: true })
  const name = typeof o["name"] === "string" ? o["name"] : "head_supervised"
  const dense = tfl.layers.dense({
    units: classes,
    useBias: true,
    kernelInitializer: zeroInit ? "zeros" : tfl.initializers.randomNormal({ mean: 0, stddev: 0.01, seed: seed + 1 }), // tfjs reads seed 0 as "unseeded"
    biasInitializer: "zeros",
    name: `${name}.dense`
  })
  if (Number.isNaN(inputDim)) return dense
  const input = tfl.input({ shape: [inputDim], name: `${name}.input` })
  return tfl.model({ inputs: input, outputs: dense.apply(input) as tfl.SymbolicTensor, name })
}
