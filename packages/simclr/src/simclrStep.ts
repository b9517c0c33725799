/**
 * One SimCLR pre-training step as a plain function (no Effect): both views through encoder and head in
 * one batch (batch norm in training mode over all 2N views, as the official code), NT-Xent on z,
 * gradients of every trainable weight, and an optimiser update assigned to the weights.
 *
 * @since 0.1.0
 */
import { ntXent, ntXentMetrics } from "@simclr/losses"
import * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import { applyGradients } from "./internal/applyGradients.ts"
import type { Optimizer, OptimizerState } from "./optimizers.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface SimclrStepOptions {
  /** NT-Xent temperature τ. */
  readonly temperature: number
  readonly optimizer: Optimizer
  readonly learningRate: number
}

/**
 * What a step reports (plain numbers, read after the update).
 *
 * @category models
 * @since 0.1.0
 */
export interface SimclrStepResult {
  readonly loss: number
  /** How often the positive is the most similar of the other view's embeddings. */
  readonly contrastiveAccuracy: number
  /** Mean entropy of the contrastive softmax over the other view. */
  readonly contrastiveEntropy: number
  readonly state: OptimizerState
}

/**
 * Thrown by `simclrStep` when the loss is NaN or infinite (nothing was updated).
 *
 * @category errors
 * @since 0.1.0
 */
export class NonFiniteLoss extends RangeError {
  readonly loss: number
  constructor(loss: number) {
    super(`loss is ${loss}: the step was not applied (lower the learning rate, or check the inputs)`)
    this.name = "NonFiniteLoss"
    this.loss = loss
  }
}

/**
 * The model's trainable weights by name (tfjs-layers names such as `layer1.0.conv1/kernel`).
 *
 * @category utilities
 * @since 0.1.0
 */
export const trainableWeights = (model: tfl.LayersModel): Record<string, tf.Variable> => {
  const out: Record<string, tf.Variable> = {}
  for (const w of model.trainableWeights) {
    if (out[w.originalName] !== undefined) throw new RangeError(`model: two trainable weights are named "${w.originalName}"`)
    out[w.originalName] = w.read() as tf.Variable
  }
  return out
}

/**
 * Runs one step of SimCLR on `model` (from `@simclr/heads`' `simclrModel`: images → [h, ft, z]) with the
 * two views of a batch, and updates its weights. The old optimiser state is disposed and the new one
 * returned. Throws `NonFiniteLoss` when the loss is not finite, before touching any weight.
 *
 * @category training
 * @since 0.1.0
 */
export const simclrStep = (
  model: tfl.LayersModel,
  views: readonly [tf.Tensor4D, tf.Tensor4D],
  state: OptimizerState,
  options: SimclrStepOptions
): SimclrStepResult => {
  const variables = trainableWeights(model)
  const n = views[0].shape[0]
  const { value, grads, accuracy, entropy } = tf.tidy(() => {
    let zs: [tf.Tensor, tf.Tensor] | undefined
    const computed = tf.variableGrads(() => {
      const x = tf.concat([views[0], views[1]], 0)
      const outputs = model.apply(x, { training: true }) as Array<tf.Tensor>
      const z = outputs[outputs.length - 1]!
      const z1 = tf.slice(z, [0, 0], [n, -1])
      const z2 = tf.slice(z, [n, 0], [n, -1])
      zs = [tf.keep(z1), tf.keep(z2)]
      return ntXent(z1, z2, { temperature: options.temperature }) as tf.Scalar
    }, Object.values(variables))
    const metrics = ntXentMetrics(zs![0], zs![1], { temperature: options.temperature })
    tf.dispose(zs!)
    return { value: computed.value, grads: computed.grads, accuracy: metrics.accuracy, entropy: metrics.entropy }
  })
  const [loss, contrastiveAccuracy, contrastiveEntropy] = [value, accuracy, entropy].map((t) => t.dataSync()[0]!) as [number, number, number]
  tf.dispose([value, accuracy, entropy])
  if (!Number.isFinite(loss)) {
    tf.dispose(Object.values(grads))
    throw new NonFiniteLoss(loss)
  }
  const next = applyGradients(variables, grads, options.optimizer, state, options.learningRate)
  return { loss, contrastiveAccuracy, contrastiveEntropy, state: next }
}
