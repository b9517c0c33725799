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
import { variableGradsFreeing } from "./internal/variableGradsFreeing.ts"
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
  /**
   * Images per encoder pass (GradCache, Gao et al. 2021). Unset: both views of the whole batch go
   * through the network at once. Set: a first pass without gradients embeds the batch chunk by chunk
   * (both views of `chunkSize` images per chunk), NT-Xent and its gradient with respect to every
   * embedding are computed over the whole batch, then each chunk is run again with gradients and
   * back-propagated from its cached embedding gradients. Memory then scales with the chunk, not the
   * batch. The gradients equal the full batch's exactly for a network without batch norm; with batch
   * norm, statistics are per chunk (like per-device batch norm without synchronisation), and the
   * moving averages are updated once per chunk. Costs one extra forward pass.
   */
  readonly chunkSize?: number
  /**
   * The contrastive loss of the two views' projections z₁, z₂ ([N, D] each). Default: NT-Xent at
   * `temperature` (`ntXent(z1, z2, { temperature })`). SimCLR v2 passes NT-Xent with a memory queue's
   * rows as extra negatives, or MoCo's loss against a momentum network's keys. Gradients reach the
   * network only through z₁ and z₂; the metrics stay NT-Xent's in-batch ones.
   */
  readonly loss?: (z1: tf.Tensor2D, z2: tf.Tensor2D) => tf.Scalar
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

/** The step's contrastive loss: the caller's, or NT-Xent at the step's temperature. */
const lossOf = (options: SimclrStepOptions) => options.loss ?? ((z1: tf.Tensor2D, z2: tf.Tensor2D) => ntXent(z1, z2, { temperature: options.temperature }) as tf.Scalar)

interface StepTensors {
  readonly value: tf.Scalar
  readonly grads: tf.NamedTensorMap
  readonly accuracy: tf.Scalar
  readonly entropy: tf.Scalar
  readonly probeLoss: tf.Scalar | undefined
  readonly probeCorrect: tf.Scalar | undefined
  readonly labeled: number
}

/** Both views through the network at once (batch norm over all 2N views, as the official code). */
const fullBatch = (
  model: tfl.LayersModel,
  views: readonly [tf.Tensor4D, tf.Tensor4D],
  variables: Record<string, tf.Variable>,
  options: SimclrStepOptions
): StepTensors => {
  const probe = options.probe
  const n = views[0].shape[0]
  let labeled = 0
  const out = tf.tidy(() => {
    let zs: [tf.Tensor, tf.Tensor] | undefined
    let probeTerms: [tf.Tensor, tf.Tensor] | undefined
    let contrastiveLoss: tf.Tensor | undefined
    const computed = variableGradsFreeing(() => {
      const x = tf.concat([views[0], views[1]], 0)
      const outputs = model.apply(x, { training: true }) as Array<tf.Tensor>
      const z = outputs[outputs.length - 1]!
      const z1 = tf.slice(z, [0, 0], [n, -1])
      const z2 = tf.slice(z, [n, 0], [n, -1])
      zs = [tf.keep(z1), tf.keep(z2)]
      const contrastive = lossOf(options)(z1 as tf.Tensor2D, z2 as tf.Tensor2D)
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
    return {
      value: (contrastiveLoss ?? computed.value) as tf.Scalar,
      grads: computed.grads,
      accuracy: metrics.accuracy as tf.Scalar,
      entropy: metrics.entropy as tf.Scalar,
      probeLoss: probeTerms?.[0] as tf.Scalar | undefined,
      probeCorrect: probeTerms?.[1] as tf.Scalar | undefined
    }
  })
  return { ...out, labeled }
}

/** The rows [start, start + size) of both views, as one batch: view 1's rows then view 2's. */
const chunkOf = (views: readonly [tf.Tensor4D, tf.Tensor4D], start: number, size: number): tf.Tensor4D =>
  tf.concat([tf.slice(views[0], [start, 0, 0, 0], [size, -1, -1, -1]), tf.slice(views[1], [start, 0, 0, 0], [size, -1, -1, -1])], 0)

/**
 * GradCache: embed the batch chunk by chunk without gradients, take the loss's gradient with respect
 * to the embeddings, then back-propagate each chunk from its cached embedding gradient.
 */
const chunked = (
  model: tfl.LayersModel,
  views: readonly [tf.Tensor4D, tf.Tensor4D],
  networkVariables: Array<tf.Variable>,
  options: SimclrStepOptions,
  chunkSize: number
): StepTensors | { readonly nonFinite: number } => {
  const n = views[0].shape[0]
  const starts = Array.from({ length: Math.ceil(n / chunkSize) }, (_, i) => i * chunkSize)
  const sizeAt = (start: number) => Math.min(chunkSize, n - start)
  // Each chunk's input (both views of its images), built once for both passes.
  const inputs = starts.map((start) => tf.tidy(() => chunkOf(views, start, sizeAt(start))))
  // The first pass must not move batch norm's moving averages (the second pass does, once per chunk).
  const moving = model.nonTrainableWeights.map((w) => w.read())
  const saved = moving.map((w) => tf.clone(w))
  // One tidy per chunk, so only one chunk's activations are alive at a time.
  const parts = starts.map((start, c) =>
    tf.tidy(() => {
      const outputs = model.apply(inputs[c]!, { training: true }) as Array<tf.Tensor>
      const z = outputs[outputs.length - 1]!
      const size = sizeAt(start)
      const rows = (t: tf.Tensor, from: number) => tf.slice(t, [from, 0], [size, -1])
      return { z1: rows(z, 0), z2: rows(z, size), h1: rows(outputs[0]!, 0), h2: rows(outputs[0]!, size) }
    })
  )
  const join = (key: "z1" | "z2" | "h1" | "h2") => tf.concat(parts.map((p) => p[key]), 0)
  const { z1, z2, h } = tf.tidy(() => ({ z1: join("z1"), z2: join("z2"), h: options.probe === undefined ? undefined : tf.concat([join("h1"), join("h2")], 0) }))
  for (const p of parts) tf.dispose([p.z1, p.z2, p.h1, p.h2])
  moving.forEach((w, i) => (w as tf.Variable).assign(saved[i]!))
  tf.dispose(saved)
  const loss = lossOf(options)
  const { value, dz1, dz2 } = tf.tidy(() => {
    const { value: v, grads } = tf.valueAndGrads(loss as never)([z1, z2])
    return { value: v as tf.Scalar, dz1: grads[0]!, dz2: grads[1]! }
  })
  const lossValue = value.dataSync()[0]!
  if (!Number.isFinite(lossValue)) {
    tf.dispose([value, dz1, dz2, z1, z2, ...inputs, ...(h === undefined ? [] : [h])])
    return { nonFinite: lossValue }
  }
  const metrics = ntXentMetrics(z1, z2, { temperature: options.temperature })
  tf.dispose([z1, z2])
  // The probe sees h behind a stop-gradient: its gradients need only the cached h.
  const probe = options.probe
  let labeled = 0
  let probeGrads: tf.NamedTensorMap = {}
  let probeTerms: [tf.Scalar, tf.Scalar] | undefined
  if (probe !== undefined && h !== undefined) {
    let correct: tf.Scalar | undefined
    const computed = variableGradsFreeing(() => {
      const terms = probeLossOf(h, probe.weights, probe.labels)
      labeled = terms.labeled
      correct = tf.keep(terms.correct) as tf.Scalar
      return terms.loss
    }, Object.values(probe.weights))
    probeTerms = [computed.value, correct!]
    probeGrads = computed.grads
    h.dispose()
  }
  const grads: tf.NamedTensorMap = {}
  for (const [c, start] of starts.entries()) {
    const size = sizeAt(start)
    const { grads: chunkGrads, value: surrogate } = variableGradsFreeing(() => {
      const outputs = model.apply(inputs[c]!, { training: true }) as Array<tf.Tensor>
      const z = outputs[outputs.length - 1]!
      const dz = tf.concat([tf.slice(dz1, [start, 0], [size, -1]), tf.slice(dz2, [start, 0], [size, -1])], 0)
      return tf.sum(tf.mul(z, dz)) as tf.Scalar
    }, networkVariables)
    surrogate.dispose()
    for (const [name, g] of Object.entries(chunkGrads)) {
      const previous = grads[name]
      if (previous === undefined) grads[name] = g
      else {
        grads[name] = tf.add(previous, g)
        tf.dispose([previous, g])
      }
    }
  }
  tf.dispose([dz1, dz2, ...inputs])
  return {
    value,
    grads: { ...grads, ...probeGrads },
    accuracy: metrics.accuracy as tf.Scalar,
    entropy: metrics.entropy as tf.Scalar,
    probeLoss: probeTerms?.[0],
    probeCorrect: probeTerms?.[1],
    labeled
  }
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
  const probe = options.probe
  const network = trainableWeights(model)
  const variables = { ...network, ...probe?.weights }
  const n = views[0].shape[0]
  if (probe !== undefined && probe.labels.length !== n) throw new RangeError(`probe.labels: ${probe.labels.length} labels for ${n} images per view`)
  const chunkSize = options.chunkSize
  if (chunkSize !== undefined && (!Number.isInteger(chunkSize) || chunkSize < 1)) throw new RangeError(`chunkSize: expected a positive integer, got ${chunkSize}`)
  const step = chunkSize === undefined || chunkSize >= n ? fullBatch(model, views, variables, options) : chunked(model, views, Object.values(network), options, chunkSize)
  if ("nonFinite" in step) throw new NonFiniteLoss(step.nonFinite)
  const { value, grads, accuracy, entropy, probeLoss, probeCorrect, labeled } = step
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
