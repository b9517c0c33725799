/**
 * Evaluations on frozen features (plain tensor maths, no Effect): the weighted kNN classifier lightly
 * and the InstDisc/MoCo monitors use, and the official linear evaluation (a linear classifier trained
 * with momentum SGD and cosine decay on features computed once, no augmentation). Both report top-1 and
 * top-5 accuracy.
 *
 * @since 0.1.0
 */
import * as tf from "@tensorflow/tfjs-core"
import { Random } from "@simclr/core"
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
  /**
   * Standardise each feature to zero mean and unit variance over the training set before training (the
   * statistics are folded into the returned kernel and bias, so the probe applies to raw features).
   * Features of very different scales (raw pixels, an untrained encoder) then train at one learning
   * rate, like a BatchNorm without affine parameters in front of the classifier. Default false (official).
   */
  readonly standardize?: boolean
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
  // Batches are assembled in JavaScript from one read-back: a per-step tf.gather costs more than the
  // training itself on wasm (its GatherV2 is slow), and the rows are the same.
  const values = features.dataSync() as Float32Array
  const { rows, mean, scale } = options.standardize === true ? standardized(values, n, d) : { rows: values, mean: undefined, scale: undefined }
  const xs = new Float32Array(batchSize * d)
  const ys = new Float32Array(batchSize * c)
  let weights: Record<string, tf.Tensor> = { "linear/kernel": tf.zeros([d, c]), "linear/bias": tf.zeros([c]) }
  let state = optimizer.init(weights)
  let step = 0
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = new Random(seed, epoch).permutation(n)
    for (let start = 0; start + batchSize <= n; start += batchSize) {
      ys.fill(0)
      for (let i = 0; i < batchSize; i++) {
        const row = order[start + i]!
        xs.set(rows.subarray(row * d, row * d + d), i * d)
        ys[i * c + labels[row]!] = 1
      }
      const grads = tf.tidy(() => {
        const x = tf.tensor2d(xs, [batchSize, d])
        const logits = tf.add(tf.matMul(x, weights["linear/kernel"]!), weights["linear/bias"]!)
        const g = tf.div(tf.sub(tf.softmax(logits), tf.tensor2d(ys, [batchSize, c])), batchSize)
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
  disposeState(state)
  const kernel = weights["linear/kernel"] as tf.Tensor2D
  const bias = weights["linear/bias"] as tf.Tensor1D
  if (mean === undefined || scale === undefined) return { kernel, bias }
  // ((x − μ) / σ)·W + b = x·(W / σ) + (b − (μ / σ)·W)
  const folded = tf.tidy(() => {
    const w = tf.mul(kernel, tf.tensor2d(scale, [d, 1]))
    return { kernel: w as tf.Tensor2D, bias: tf.sub(bias, tf.reshape(tf.matMul(tf.tensor2d(mean, [1, d]), w), [c])) as tf.Tensor1D }
  })
  tf.dispose([kernel, bias])
  return folded
}

/** Rows standardised per column (statistics in float64), with the mean and 1 / σ (1 for constant columns). */
const standardized = (values: Float32Array, n: number, d: number) => {
  const sum = new Float64Array(d)
  const squares = new Float64Array(d)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const v = values[i * d + j]!
      sum[j]! += v
      squares[j]! += v * v
    }
  }
  const mean = new Float32Array(d)
  const scale = new Float32Array(d)
  for (let j = 0; j < d; j++) {
    const m = sum[j]! / n
    const variance = Math.max(0, squares[j]! / n - m * m)
    mean[j] = m
    scale[j] = variance > 1e-12 ? 1 / Math.sqrt(variance) : 1
  }
  const rows = new Float32Array(n * d)
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) rows[i * d + j] = (values[i * d + j]! - mean[j]!) * scale[j]!
  return { rows, mean, scale }
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

/**
 * Trains a linear probe on `train` and returns its accuracy on `test` (the probe is freed): linear
 * evaluation in one call, as `knnEvaluate` is for kNN.
 *
 * @category evaluation
 * @since 0.1.0
 */
export const linearEvaluate = (train: tf.Tensor2D, trainLabels: Int32Array, test: tf.Tensor2D, testLabels: Int32Array, options: LinearProbeOptions): Accuracy => {
  const probe = trainLinearProbe(train, trainLabels, options)
  try {
    return linearProbeAccuracy(probe, test, testLabels)
  } finally {
    tf.dispose([probe.kernel, probe.bias])
  }
}
