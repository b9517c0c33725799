/**
 * The weightless custom layers of the encoders (selective-kernel stream sum and mixing) and the batch
 * norm layer with a fused training path, registered with
 * tfjs serialization when this module loads so that saved models reload (listed in `sideEffects`).
 */
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { BatchNormalization } from "./batchNorm.ts"

type Shape = Array<number | null>

const single = (inputs: tf.Tensor | Array<tf.Tensor>): tf.Tensor => (Array.isArray(inputs) ? inputs[0]! : inputs)

/**
 * Splits the channels into two equal streams and sums them: [.., 2F] → [.., F]
 * (the `reduce_sum(stack(split(x, 2)))` of the official SK_Conv2D).
 *
 * @since 0.1.0
 * @category layers
 */
export class SkStreamSum extends tfl.layers.Layer {
  static readonly className = "SimclrSkStreamSum"

  override computeOutputShape(inputShape: Shape | Array<Shape>): Shape {
    const shape = [...(inputShape as Shape)]
    const last = shape[shape.length - 1]
    shape[shape.length - 1] = last === null || last === undefined ? null : last / 2
    return shape
  }

  override call(inputs: tf.Tensor | Array<tf.Tensor>): tf.Tensor {
    return tf.tidy(() => {
      const [a, b] = tf.split(single(inputs), 2, -1)
      return tf.add(a!, b!)
    })
  }
}

/**
 * Selective-kernel mixing: inputs [streams [B, H, W, 2F], logits [B, 2F]]; per channel, a softmax over
 * the two streams' logits weights the two streams, summed to [B, H, W, F].
 *
 * @since 0.1.0
 * @category layers
 */
export class SkMix extends tfl.layers.Layer {
  static readonly className = "SimclrSkMix"

  override computeOutputShape(inputShape: Shape | Array<Shape>): Shape {
    const shape = [...((inputShape as Array<Shape>)[0] as Shape)]
    const last = shape[shape.length - 1]
    shape[shape.length - 1] = last === null || last === undefined ? null : last / 2
    return shape
  }

  override call(inputs: tf.Tensor | Array<tf.Tensor>): tf.Tensor {
    return tf.tidy(() => {
      const [streams, logits] = inputs as [tf.Tensor4D, tf.Tensor2D]
      const [s0, s1] = tf.split(streams, 2, -1)
      const [l0, l1] = tf.split(logits, 2, -1)
      // softmax over the two streams = sigmoid of the difference.
      const w0 = tf.reshape(tf.sigmoid(tf.sub(l0!, l1!)), [logits.shape[0], 1, 1, -1])
      return tf.add(tf.mul(s0!, w0), tf.mul(s1!, tf.sub(1, w0)))
    })
  }
}

tf.serialization.registerClass(SkStreamSum)
tf.serialization.registerClass(SkMix)
// Registered under the stock class name "BatchNormalization", replacing tfjs-layers' entry for the whole
// process: every model deserialised afterwards (not only encoders) gets the layer with the fused training
// path. It computes exactly what the stock layer does, with the same config and weights, and runs the
// stock code on backends without the kernels.
tf.serialization.registerClass(BatchNormalization)
