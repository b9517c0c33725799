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
  /**
   * The online linear probe (official `lineareval_while_pretraining`): a linear classifier on the
   * encoder output h of both views behind a stop-gradient, trained by the same optimiser in the same
   * step. Its cross-entropy is added to the loss, but no gradient from it reaches the encoder or head,
   * so the pre-training itself is unchanged. `weights` holds `head_supervised/kernel` [d, C] and
   * `head_supervised/bias` [C]; `labels` has one class per image of a view, −1 for unlabeled images
   * (left out of the probe's loss and accuracy).
   */
  readonly probe?: {
    readonly weights: Readonly<Record<string, tf.Variable>>
    readonly labels: Int32Array
  }
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
  /** The online probe's mean cross-entropy and top-1 accuracy over the labeled images of both views (when it ran on any). */
  readonly probeLoss?: number
  readonly probeAccuracy?: number
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
/** Identity forward, zero gradient backward (TensorFlow's `tf.stop_gradient`, which tfjs lacks). */
const stopGradient = tf.customGrad(((x: tf.Tensor) => ({ value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) })) as unknown as Parameters<typeof tf.customGrad>[0])

/** Masked softmax cross-entropy and correct count of a linear probe on h [2n, d], labels repeated for both views. */
const probeLossOf = (h: tf.Tensor, weights: Readonly<Record<string, tf.Variable>>, labels: Int32Array) => {
  const kernel = weights["head_supervised/kernel"]
  const bias = weights["head_supervised/bias"]
  if (kernel === undefined || bias === undefined) throw new RangeError("probe.weights: expected head_supervised/kernel and head_supervised/bias")
  const both = new Int32Array(labels.length * 2)
  both.set(labels)
  both.set(labels, labels.length)
  const labeled = both.reduce((count, l) => count + (l >= 0 ? 1 : 0), 0)
  const y = tf.tensor1d(both, "int32")
  const mask = tf.cast(tf.greaterEqual(y, 0), "float32")
  const logits = tf.add(tf.matMul(stopGradient(h) as tf.Tensor2D, kernel as tf.Tensor2D), bias)
  const onehot = tf.oneHot(tf.tensor1d(both.map((l) => Math.max(l, 0)), "int32"), kernel.shape[1]!)
  const perImage = tf.neg(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1))
  const loss = tf.div(tf.sum(tf.mul(perImage, mask)), Math.max(1, labeled)) as tf.Scalar
  const correct = tf.sum(tf.mul(tf.cast(tf.equal(tf.argMax(logits, 1), y), "float32"), mask))
  return { loss, correct, labeled }
}

export const simclrStep = (
  model: tfl.LayersModel,
  views: readonly [tf.Tensor4D, tf.Tensor4D],
  state: OptimizerState,
  options: SimclrStepOptions
): SimclrStepResult => {
  const probe = options.probe
  const variables = { ...trainableWeights(model), ...probe?.weights }
  const n = views[0].shape[0]
  if (probe !== undefined && probe.labels.length !== n) throw new RangeError(`probe.labels: ${probe.labels.length} labels for ${n} images per view`)
  let labeled = 0
  const { value, grads, accuracy, entropy, probeLoss, probeCorrect } = tf.tidy(() => {
    let zs: [tf.Tensor, tf.Tensor] | undefined
    let probeTerms: [tf.Tensor, tf.Tensor] | undefined
    let contrastiveLoss: tf.Tensor | undefined
    const computed = tf.variableGrads(() => {
      const x = tf.concat([views[0], views[1]], 0)
      const outputs = model.apply(x, { training: true }) as Array<tf.Tensor>
      const z = outputs[outputs.length - 1]!
      const z1 = tf.slice(z, [0, 0], [n, -1])
      const z2 = tf.slice(z, [n, 0], [n, -1])
      zs = [tf.keep(z1), tf.keep(z2)]
      const contrastive = ntXent(z1, z2, { temperature: options.temperature }) as tf.Scalar
      if (probe === undefined) return contrastive
      contrastiveLoss = tf.keep(contrastive)
      const terms = probeLossOf(outputs[0]!, probe.weights, probe.labels)
      labeled = terms.labeled
      probeTerms = [tf.keep(terms.loss), tf.keep(terms.correct)]
      return tf.add(contrastive, terms.loss) as tf.Scalar
    }, Object.values(variables))
    const metrics = ntXentMetrics(zs![0], zs![1], { temperature: options.temperature })
    tf.dispose(zs!)
    // The total includes the probe's loss; report the contrastive part alone.
    return { value: contrastiveLoss ?? computed.value, grads: computed.grads, accuracy: metrics.accuracy, entropy: metrics.entropy, probeLoss: probeTerms?.[0], probeCorrect: probeTerms?.[1] }
  })
  const scalars = [value, accuracy, entropy, ...(probeLoss === undefined || probeCorrect === undefined ? [] : [probeLoss, probeCorrect])]
  const [loss, contrastiveAccuracy, contrastiveEntropy, probeLossValue, correct] = scalars.map((t) => t.dataSync()[0]!) as [number, number, number, number?, number?]
  tf.dispose(scalars)
  const total = loss + (probeLossValue ?? 0)
  if (!Number.isFinite(total)) {
    tf.dispose(Object.values(grads))
    throw new NonFiniteLoss(Number.isFinite(loss) ? total : loss)
  }
  const next = applyGradients(variables, grads, options.optimizer, state, options.learningRate)
  const probeMetrics = probeLossValue === undefined || labeled === 0 ? {} : { probeLoss: probeLossValue, probeAccuracy: correct! / labeled }
  return { loss, contrastiveAccuracy, contrastiveEntropy, ...probeMetrics, state: next }
}
