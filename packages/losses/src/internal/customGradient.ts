import * as tf from "@tensorflow/tfjs-core"

export interface CustomGradientResult<T extends tf.Tensor> {
  readonly value: T
  readonly gradFunc: (dy: T, saved: Array<tf.Tensor>) => Array<tf.Tensor>
}

/**
 * `tf.customGrad` with typed inputs: runs `forward(inputs, save)` and differentiates the result with
 * its `gradFunc` (one gradient per input). Ops inside are not recorded on the tape, so no registered
 * op gradients are needed, and tensors captured from outside (not in `inputs`) receive no gradient.
 */
export const customGradient = <T extends tf.Tensor>(
  inputs: ReadonlyArray<tf.Tensor>,
  forward: (inputs: ReadonlyArray<tf.Tensor>, save: tf.GradSaveFunc) => CustomGradientResult<T>
): T => {
  const f = (...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args[args.length - 1] as tf.GradSaveFunc
    return forward(args.slice(0, -1) as Array<tf.Tensor>, save)
  }
  type CustomGradientFunc = Parameters<typeof tf.customGrad>[0]
  return tf.customGrad(f as unknown as CustomGradientFunc)(...inputs) as T
}
