import * as tfl from "@tensorflow/tfjs-layers"
import { InvalidArgumentError } from "@simclr/core"

/**
 * Encoder f and projection head g as one model: images → `[h, ft, z]` where h = f(x), z = g(h) and ft is
 * the output of head layer `ftProjSelector` (the official `ft_proj_selector`): 0 = h (the default),
 * k = the output of head layer k (SimCLR v2 fine-tunes from layer 1 of its 3-layer head), negative
 * values count from the end (−1 = z, −(layers + 1) = h). The encoder and head keep their own layers and
 * weights, shared with this model; `model.apply(x, { training: true })` runs every batch norm of both on
 * batch statistics. Save it with `model.save` (any tfjs IO handler); reloading needs this package
 * imported (the head's last batch norm is a `SimclrBatchNormalization`).
 *
 * @example
 * ```ts
 * const model = simclrModel(resnet({ depth: 50 }), projectionHead(headPresets.v2(2048)), { ftProjSelector: 1 })
 * const [h, ft, z] = model.apply(images, { training: true }) as tf.Tensor[]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const simclrModel = (
  encoder: tfl.LayersModel,
  head: tfl.LayersModel,
  options: { readonly ftProjSelector?: number; readonly name?: string } = {}
): tfl.LayersModel => {
  const outputs = head.outputs.length
  const selector = options.ftProjSelector ?? 0
  const index = selector < 0 ? outputs + selector : selector
  if (!Number.isInteger(selector) || index < 0 || index >= outputs) {
    throw new InvalidArgumentError(
      "options.ftProjSelector",
      `must be an integer from ${-outputs} to ${outputs - 1} for a head with ${outputs - 1} layer(s), got ${String(selector)}`
    )
  }
  const inputs = tfl.input({ shape: encoder.inputs[0]!.shape.slice(1) as Array<number>, name: "images" })
  const h = encoder.apply(inputs) as tfl.SymbolicTensor
  const hidden = head.apply(h) as Array<tfl.SymbolicTensor>
  // An identity layer names the fine-tuning output and keeps it distinct from z when they coincide.
  const ft = tfl.layers.activation({ activation: "linear", name: "ft" }).apply(hidden[index]!) as tfl.SymbolicTensor
  return tfl.model({ inputs, outputs: [h, ft, hidden[outputs - 1]!], name: options.name ?? "simclr" })
}
