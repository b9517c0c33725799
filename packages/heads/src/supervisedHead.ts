import * as tfl from "@tensorflow/tfjs-layers"
import { knownKeys, numberIn } from "./internal/validate.ts"

/**
 * The official supervised head: one dense layer with bias from the fine-tuning representation to
 * `numClasses` logits, initialised N(0, 0.01²), or zeros with `zeroInit` (the official
 * `zero_init_logits_layer`, used for linear evaluation).
 *
 * @example
 * ```ts
 * const classifier = supervisedHead(10, { inputDim: 512, zeroInit: true })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const supervisedHead = (
  numClasses: number,
  options: { readonly inputDim: number; readonly zeroInit?: boolean; readonly seed?: number; readonly name?: string }
): tfl.LayersModel => {
  const classes = numberIn("numClasses", numClasses, Number.NaN, [1, 1 << 24], { integer: true })
  const o = knownKeys("options", options, ["inputDim", "zeroInit", "seed", "name"])
  const inputDim = numberIn("options.inputDim", o["inputDim"], Number.NaN, [1, 1 << 20], { integer: true })
  const seed = numberIn("options.seed", o["seed"], 0, [0, Number.MAX_SAFE_INTEGER], { integer: true })
  const name = typeof o["name"] === "string" ? o["name"] : "head_supervised"
  const input = tfl.input({ shape: [inputDim], name: `${name}.input` })
  const logits = tfl.layers
    .dense({
      units: classes,
      useBias: true,
      kernelInitializer: o["zeroInit"] === true ? "zeros" : tfl.initializers.randomNormal({ mean: 0, stddev: 0.01, seed: seed + 1 }), // tfjs reads seed 0 as "unseeded"
      biasInitializer: "zeros",
      name: `${name}.dense`
    })
    .apply(input) as tfl.SymbolicTensor
  return tfl.model({ inputs: input, outputs: logits, name })
}
