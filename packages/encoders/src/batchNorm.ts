/**
 * Batch norm in training as one op with one gradient, where the backend provides it.
 *
 * tfjs-layers normalises a training batch with `moments` and `batchNormalization`, and differentiates
 * the two separately: over twenty full-size element-wise passes per layer and step, which dominate a
 * ResNet step once the convolutions are fast. A backend that registers the kernels named
 * {@link BATCH_NORM_TRAINING} and {@link BATCH_NORM_TRAINING_GRAD} (as `@simclr/backend-onednn` does)
 * computes the moments, the normalisation and the whole gradient in two passes each. Every other
 * backend keeps tfjs-layers' own computation.
 *
 * @since 0.1.0
 */
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"

/**
 * Kernel: inputs `x` [..., C], `scale` [C], `offset` [C]; attr `epsilon`; outputs y, the batch mean and
 * the biased batch variance over every axis but the last.
 *
 * @category batch norm
 * @since 0.1.0
 */
export const BATCH_NORM_TRAINING = "SimclrBatchNormTraining"

/**
 * Kernel: inputs `dy`, `x`, `scale`, `mean`, `variance`; attr `epsilon`; outputs dx (through the batch
 * moments), dscale, doffset.
 *
 * @category batch norm
 * @since 0.1.0
 */
export const BATCH_NORM_TRAINING_GRAD = "SimclrBatchNormTrainingGrad"

/**
 * Whether the active backend has both fused batch-norm kernels.
 *
 * @category batch norm
 * @since 0.1.0
 */
export const hasFusedBatchNorm = (): boolean => {
  const backend = tf.getBackend()
  return tf.getKernel(BATCH_NORM_TRAINING, backend) !== undefined && tf.getKernel(BATCH_NORM_TRAINING_GRAD, backend) !== undefined
}

const registerGradientOnce = (): void => {
  if (tf.getGradient(BATCH_NORM_TRAINING) !== undefined) return
  tf.registerGradient({
    kernelName: BATCH_NORM_TRAINING,
    inputsToSave: ["x", "scale"],
    outputsToSave: [false, true, true],
    gradFunc: (dys, saved, attrs) => {
      const [x, scale, mean, variance] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]
      // The moments only feed the moving averages: their gradients are not propagated.
      const dy = (Array.isArray(dys) ? dys[0] : dys)!
      // Computed once, outside the per-input closures (each runs in its own tidy).
      const [dx, dscale, doffset] = tf.engine().runKernel(BATCH_NORM_TRAINING_GRAD, { dy, x, scale, mean, variance }, attrs as never) as Array<tf.Tensor>
      return { x: () => dx!, scale: () => dscale!, offset: () => doffset! }
    }
  })
}

/**
 * Normalises `x` [..., C] with its own batch moments over every axis but the last:
 * `y = (x − mean)·scale/√(variance + epsilon) + offset`, returning y, mean and the biased variance,
 * with gradients into x (through the moments), scale and offset. Needs a backend with the fused
 * kernels ({@link hasFusedBatchNorm}).
 *
 * @category batch norm
 * @since 0.1.0
 */
export const batchNormTraining = (x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, epsilon: number): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } => {
  registerGradientOnce()
  const [y, mean, variance] = tf.engine().runKernel(BATCH_NORM_TRAINING, { x, scale, offset }, { epsilon }) as Array<tf.Tensor>
  return { y: y!, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D }
}

// tfjs-layers does not export the class itself; its constructor is taken from an instance.
type StockInstance = ReturnType<typeof tfl.layers.batchNormalization>
type StockArgs = Parameters<typeof tfl.layers.batchNormalization>[0]
interface StockClass extends Omit<typeof tfl.layers.Layer, "prototype"> {
  new (args?: StockArgs): StockInstance
  readonly prototype: StockInstance
}
const Stock = tfl.layers.batchNormalization({}).constructor as unknown as StockClass

/** The stock layer's private state, as its `call` uses it. */
interface Internals {
  readonly axis: number
  readonly momentum: number
  readonly epsilon: number
  readonly gamma: tfl.LayerVariable | null
  readonly beta: tfl.LayerVariable | null
  readonly movingMean: tfl.LayerVariable
  readonly movingVariance: tfl.LayerVariable
}

/**
 * tfjs-layers' `BatchNormalization`, with training-mode normalisation through {@link batchNormTraining}
 * when the backend has the fused kernels (and the layer has both γ and β and normalises the last
 * axis). The moving averages are updated exactly as the stock layer does; inference, serialisation
 * (class name `BatchNormalization`) and every other backend are the stock layer's.
 *
 * @category layers
 * @since 0.1.0
 */
export class BatchNormalization extends Stock {
  static className = "BatchNormalization"

  override call(inputs: tf.Tensor | Array<tf.Tensor>, kwargs: Record<string, unknown>): tf.Tensor | Array<tf.Tensor> {
    const input = Array.isArray(inputs) ? inputs[0]! : inputs
    const self = this as unknown as Internals
    const rank = input.shape.length
    const lastAxis = self.axis === -1 || self.axis === rank - 1
    if (kwargs["training"] !== true || !lastAxis || self.gamma === null || self.beta === null || input.dtype !== "float32" || !hasFusedBatchNorm()) {
      return super.call(inputs, kwargs as never)
    }
    const { gamma, beta } = self
    return tf.tidy(() => {
      const { y, mean, variance } = batchNormTraining(input, gamma.read(), beta.read(), self.epsilon)
      const decay = 1 - self.momentum
      for (const [variable, value] of [[self.movingMean, mean], [self.movingVariance, variance]] as const) {
        tf.tidy(() => {
          const orig = variable.read()
          variable.write(tf.sub(orig, tf.mul(tf.sub(orig, value), decay)))
        })
      }
      return y
    })
  }
}
