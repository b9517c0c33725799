/**
 * The heads' custom layer, registered with tfjs serialization when this module loads so that saved
 * models reload (listed in `sideEffects`; the package index imports it).
 *
 * @since 0.1.0
 */
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"

// tfjs-layers does not export the class itself; its constructor is taken from an instance. This is the
// stock class whatever is registered under "BatchNormalization" (@simclr/encoders registers its own).
type StockInstance = ReturnType<typeof tfl.layers.batchNormalization>
type StockArgs = Parameters<typeof tfl.layers.batchNormalization>[0]
interface StockClass extends Omit<typeof tfl.layers.Layer, "prototype"> {
  new (args?: StockArgs): StockInstance
  readonly prototype: StockInstance
}
const Stock = tfl.layers.batchNormalization({}).constructor as unknown as StockClass

/** The stock layer's private state, as its `call` reads it. */
interface Internals {
  center: boolean
  beta: { readonly read: () => tf.Tensor } | null
  readonly movingMean: tfl.LayerVariable
}

/**
 * tfjs-layers' `BatchNormalization` that also runs with `center: false` (no β weight at all) in training
 * mode and under gradients. The stock layer of tfjs-layers 4.22 reads β unconditionally in training mode
 * (so `center: false` throws there), and its inference path passes no offset to `tf.batchNorm`, whose
 * gradient then fails; during each call this layer hands the stock code a read-only stand-in for β that
 * reads as zeros (the same function: y = γ·(x − μ)/√(σ² + ε)). Everything else — weights (`gamma`,
 * `moving_mean`, `moving_variance`, no `beta`), moving-average updates, config (`center: false` is
 * saved) — is the stock layer's. Serialised under its own class name, `SimclrBatchNormalization`, so it
 * coexists with any layer registered as `BatchNormalization`; loading a saved model that contains it
 * needs this module loaded (`import "@simclr/heads"`).
 *
 * @example
 * ```ts
 * const bn = new SimclrBatchNormalization({ center: false, momentum: 0.9, epsilon: 1e-5 })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export class SimclrBatchNormalization extends Stock {
  static className = "SimclrBatchNormalization"

  override call(inputs: tf.Tensor | Array<tf.Tensor>, kwargs: Record<string, unknown>): tf.Tensor | Array<tf.Tensor> {
    const self = this as unknown as Internals
    if (self.center) return super.call(inputs, kwargs as never)
    const shape = self.movingMean.shape as Array<number>
    // Created in the stock call's tidy, so freed with its other intermediates.
    self.beta = { read: () => tf.zeros(shape) }
    self.center = true
    try {
      return super.call(inputs, kwargs as never)
    } finally {
      self.beta = null
      self.center = false
    }
  }
}

tf.serialization.registerClass(SimclrBatchNormalization)
