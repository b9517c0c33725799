import * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import { InvalidArgumentError } from "@simclr/core"
import { allLayers, assertModel, pairWeights, variableOf } from "./internal/model.ts"

type FromConfig = (cls: unknown, config: tf.serialization.ConfigDict, customObjects: tf.serialization.ConfigDict, fastWeightInit: boolean) => tfl.LayersModel

/**
 * The momentum network of `online` (MoCo's key encoder, SimCLR v2's momentum encoder): a new model of
 * the same architecture, named `<online.name>_momentum`, with its own variables holding copies of all
 * of `online`'s weights (batch-norm moving statistics included), and not trainable: every layer's
 * `trainable` is false, so `trainableWeights` is empty and its variables are non-trainable, which
 * keeps them out of `tf.variableGrads()` and `optimizer.minimize()`. Only {@link momentumUpdate}
 * changes its weights, and its own training-mode forward passes its batch-norm statistics.
 *
 * Rebuilt from `online.getConfig()` through the tfjs serialization registry, so custom layers must be
 * registered (`tf.serialization.registerClass`) — `@simclr/encoders` and `@simclr/heads` register
 * theirs when imported. Nested models (an encoder and a head inside `simclrModel`) and multi-output
 * models are copied whole.
 *
 * **Batch norm.** Run it as `target.apply(x, { training: true })` for keys, as MoCo does: each batch
 * norm then normalises with the batch's statistics and moves its own moving mean and variance. In
 * tfjs-layers 4.22 a layer's `trainable` flag does not change that (Keras instead runs a non-trainable
 * batch norm in inference mode); this package's tests check it.
 *
 * **Ownership.** The caller disposes the returned model (`target.dispose()`); it shares nothing with
 * `online`. For a checkpoint, save `target.weights` (all of them, batch-norm statistics included).
 *
 * @example
 * ```ts
 * const target = momentumEncoder(online)
 * const keys = tf.tidy(() => target.apply(views, { training: true }) as tf.Tensor)
 * ```
 *
 * @throws {InvalidArgumentError} when `online` is not a tfjs-layers model, is disposed, or cannot be
 *   rebuilt from its config (a custom layer not registered).
 * @since 0.1.0
 * @category momentum
 */
export const momentumEncoder = (online: tfl.LayersModel): tfl.LayersModel => {
  assertModel("online", online)
  const className = online.getClassName()
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className] as readonly [unknown, FromConfig] | undefined
  if (entry === undefined) {
    throw new InvalidArgumentError("online", `its class ${className} is not registered with tf.serialization, so it cannot be rebuilt from its config`)
  }
  for (const w of online.weights) variableOf("online", w)
  let target: tfl.LayersModel
  try {
    // Through JSON, as a saved model is reloaded: the new model shares no config object with online.
    const config = JSON.parse(JSON.stringify(online.getConfig())) as tf.serialization.ConfigDict
    config["name"] = `${online.name}_momentum`
    const [cls, fromConfig] = entry
    // fastWeightInit: every weight is overwritten below, so the initialisers need not run.
    target = fromConfig(cls, config, {}, true)
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    throw new InvalidArgumentError(
      "online",
      `cannot be rebuilt from its config (a custom layer must be registered with tf.serialization.registerClass; import the package that defines it): ${message}`
    )
  }
  try {
    const pairs = pairWeights(online, target, "online")
    tf.tidy(() => {
      // Straight into the variables: LayerVariable.write would also apply a layer's constraint.
      for (const [from, to] of pairs) variableOf("online", to).assign(variableOf("online", from))
    })
    for (const layer of allLayers(target)) layer.trainable = false
  } catch (error) {
    target.dispose()
    throw error
  }
  return target
}
