/**
 * Evaluations on frozen features (plain tensor maths, no Effect): the weighted kNN classifier lightly
 * and the InstDisc/MoCo monitors use, and the official linear evaluation (a linear classifier trained
 * with momentum SGD and cosine decay on features computed once, no augmentation). Both report top-1 and
 * top-5 accuracy.
 *
 * @since 0.1.0
 */
import * as tf from "@tensorflow/tfjs-core"
import { Random } from "./internal/Random.ts"
import { disposeState, sgd } from "./optimizers.ts"
import { warmupCosine } from "./schedules.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Accuracy {
  readonly top1: number
  readonly top5: number
  readonly count: number
}

/** Top-1 and top-5 accuracy of class scores [M, C] against labels. */
export const accuracyOf = (scores: tf.Tensor2D, labels: Int32Array): Accuracy => {
  const [m, c] = scores.shape
  if (labels.length !== m) throw new RangeError(`labels: ${labels.length} labels for ${m} rows of scores`)
  const k = Math.min(5, c)
  const indices = tf.tidy(() => tf.topk(scores, k).indices)
  const top = indices.dataSync()
  indices.dispose()
  let top1 = 0
  let top5 = 0
  for (let i = 0; i < m; i++) {
    if (top[i * k] === labels[i]) top1++
    for (let j = 0; j < k; j++) {
      if (top[i * k + j] === labels[i]) {
        top5++
        break
      }
    }
  }
  return { top1: top1 / m, top5: top5 / m, count: m }
}

/**
 * @category models
 * @since 0.1.0
 */
export interface KnnOptions {
  /** Number of neighbours; default 200 (lightly). */
  readonly k?: number
  /** Temperature of the neighbour weights exp(sim / t); default 0.1. */
  readonly temperature?: number
  /** Number of classes; default: the largest label + 1. */
  readonly classes?: number
  /** Test rows per chunk (bounds the [chunk, N] similarity matrix); default 256. */
  readonly chunkSize?: number
}

const normalizeRows = (x: tf.Tensor2D): tf.Tensor2D => tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, 2, 1, true), 1e-12)))

/**
 * Weighted kNN class scores [M, C]: features are L2-normalised, the k most similar training features
 * (cosine) vote for their class with weight exp(sim / t).
 *
 * @category evaluation
 * @since 0.1.0
 */
export const knnScores = (train: tf.Tensor2D, trainLabels: Int32Array, test: tf.Tensor2D, options: KnnOptions = {}): tf.Tensor2D => {
  const n = train.shape[0]
  if (trainLabels.length !== n) throw new RangeError(`trainLabels: ${trainLabels.length} labels for ${n} training features`)
  if (train.shape[1] !== test.shape[1]) throw new RangeError(`test: ${test.shape[1]} features per row, the training set has ${train.shape[1]}`)
  const k = Math.min(options.k ?? 200, n)
  const t = options.temperature ?? 0.1
  const classes = options.classes ?? trainLabels.reduce((a, b) => Math.max(a, b), 0) + 1
  const chunk = options.chunkSize ?? 256
  return tf.tidy(() => {
    const bank = normalizeRows(train)
    const labels = tf.tensor1d(trainLabels, "int32")
    const parts: Array<tf.Tensor2D> = []
    for (let start = 0; start < test.shape[0]; start += chunk) {
      const rows = Math.min(chunk, test.shape[0] - start)
      parts.push(tf.tidy(() => {
        const q = normalizeRows(tf.slice(test, [start, 0], [rows, -1]))
        const sim = tf.matMul(q, bank, false, true)
        const { values, indices } = tf.topk(sim, k)
        const neighbourLabels = tf.reshape(tf.gather(labels, tf.reshape(indices, [-1])), [rows, k])
        const weights = tf.exp(tf.div(values, t))
        return tf.sum(tf.mul(tf.oneHot(neighbourLabels, classes), tf.expandDims(weights, 2)), 1) as tf.Tensor2D
      }))
    }
    return parts.length === 1 ? parts[0]! : tf.concat(parts, 0)
  })
}

/**
 * kNN accuracy of `test` features against a `train` bank.
 *
 * @category evaluation
 * @since 0.1.0
 */
export const knnEvaluate = (train: tf.Tensor2D, trainLabels: Int32Array, test: tf.Tensor2D, testLabels: Int32Array, options: KnnOptions = {}): Accuracy => {
  const scores = knnScores(train, trainLabels, test, options)
  try {
    return accuracyOf(scores, testLabels)
  } finally {
    scores.dispose()
  }
}

/**
 * @category models
 * @since 0.1.0
 */
export interface LinearProbeOptions {
  readonly classes: number
  /** Default 100 (official linear evaluation on CIFAR-10; 90 on ImageNet). */
  readonly epochs?: number
  /** Default 512. */
  readonly batchSize?: number
  /** Default 0.1 (official), scaled linearly by batchSize/256 as the official code does. */
  readonly learningRate?: number
  /** Default 0.9. */
  readonly momentum?: number
  /** L2 on the kernel, in the gradient; default 0. */
  readonly weightDecay?: number
  /** Seeds the initialisation and the per-epoch order; default 0. */
  readonly seed?: number
}

/**
 * A trained linear classifier: logits = x·kernel + bias. The caller disposes both tensors.
 *
 * @category models
 * @since 0.1.0
 */
export interface LinearProbe {
  readonly kernel: tf.Tensor2D
  readonly bias: tf.Tensor1D
}

/**
 * Trains a linear classifier on frozen features with softmax cross-entropy, momentum SGD and a cosine
 * schedule without warm-up (the official linear-evaluation recipe). The gradient is written out
 * ((softmax − onehot)/B through the linear map), so no op gradients need to be registered.
 *
 * @category evaluation
 * @since 0.1.0
 */
export const trainLinearProbe = (features: tf.Tensor2D, labels: Int32Array, options: LinearProbeOptions): LinearProbe => {
  const [n, d] = features.shape
  if (labels.length !== n) throw new RangeError(`labels: ${labels.length} labels for ${n} feature rows`)
  const c = options.classes
  if (!(Number.isInteger(c) && c >= 2)) throw new RangeError(`classes: got ${c}; allowed: an integer ≥ 2`)
  for (const l of labels) if (!(l >= 0 && l < c)) throw new RangeError(`labels: ${l} is not a class in 0–${c - 1}`)
  const epochs = options.epochs ?? 100
  const batchSize = Math.min(options.batchSize ?? 512, n)
  const seed = options.seed ?? 0
  const optimizer = sgd({ momentum: options.momentum ?? 0.9, weightDecay: options.weightDecay ?? 0, excludeFromWeightDecay: (name) => name.endsWith("/bias") })
  const lr = warmupCosine({ learningRate: options.learningRate ?? 0.1, scaling: "linear", batchSize, examples: n, epochs, warmupEpochs: 0 })
  let weights: Record<string, tf.Tensor> = { "linear/kernel": tf.zeros([d, c]), "linear/bias": tf.zeros([c]) }
  let state = optimizer.init(weights)
  const labelTensor = tf.tensor1d(labels, "int32")
  let step = 0
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = new Random(seed, epoch).permutation(n)
    for (let start = 0; start + batchSize <= n; start += batchSize) {
      const grads = tf.tidy(() => {
        const idx = tf.tensor1d(order.slice(start, start + batchSize), "int32")
        const x = tf.gather(features, idx)
        const y = tf.oneHot(tf.gather(labelTensor, idx), c)
        const logits = tf.add(tf.matMul(x, weights["linear/kernel"]!), weights["linear/bias"]!)
        const g = tf.div(tf.sub(tf.softmax(logits), y), batchSize)
        return { "linear/kernel": tf.matMul(x, g, true, false), "linear/bias": tf.sum(g, 0) }
      })
      const next = optimizer.update(weights, grads, state, lr(step))
      tf.dispose([...Object.values(weights), ...Object.values(grads)])
      disposeState(state)
      weights = { ...next.weights }
      state = next.state
      step++
    }
  }
  labelTensor.dispose()
  disposeState(state)
  return { kernel: weights["linear/kernel"] as tf.Tensor2D, bias: weights["linear/bias"] as tf.Tensor1D }
}

/**
 * Accuracy of a linear probe on features.
 *
 * @category evaluation
 * @since 0.1.0
 */
export const linearProbeAccuracy = (probe: LinearProbe, features: tf.Tensor2D, labels: Int32Array): Accuracy => {
  const logits = tf.tidy(() => tf.add(tf.matMul(features, probe.kernel), probe.bias) as tf.Tensor2D)
  try {
    return accuracyOf(logits, labels)
  } finally {
    logits.dispose()
  }
}
