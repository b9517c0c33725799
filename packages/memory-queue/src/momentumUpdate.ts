import * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import { describe, InvalidArgumentError, numberIn } from "@simclr/core"
import { assertModel, pairWeights, variableOf } from "./internal/model.ts"

/**
 * The momentum (exponential moving average) update of the momentum network, in place:
 * θ_target ← m·θ_target + (1 − m)·θ_online for every weight that is trainable in `online` (convolution
 * and dense kernels, biases, batch-norm γ and β). Batch-norm moving statistics and any other
 * non-trainable weight are left alone: the target's come from its own training-mode forward passes.
 * m = 1 changes nothing; m = 0 copies. Weights are matched layer by layer (and by name within a layer),
 * and every pair's shape and dtype is checked. Leaves no tensor behind.
 *
 * @example
 * ```ts
 * optimizer.minimize(() => loss(online), false, trainable)
 * momentumUpdate(target, online, schedule(step))
 * ```
 *
 * @param target the momentum network, from {@link momentumEncoder} (its weights are overwritten).
 * @param online the network the optimiser trains.
 * @param m the momentum, a number in [0, 1] (see {@link momentumSchedule}).
 *
 * @throws {InvalidArgumentError} when either model is not a tfjs-layers model or is disposed, when they
 *   are the same model or share a weight, when `target` has another architecture (named in the
 *   message), or when `m` is not a number in [0, 1] (NaN included).
 * @since 0.1.0
 * @category momentum
 */
export const momentumUpdate = (target: tfl.LayersModel, online: tfl.LayersModel, m: number): void => {
  assertModel("target", target)
  assertModel("online", online)
  if (m === undefined) throw new InvalidArgumentError("m", `is required: the momentum, a number in [0, 1], got ${describe(m)}`)
  const momentum = numberIn("m", m, Number.NaN, [0, 1])
  if (target === online) throw new InvalidArgumentError("target", "is the online model itself: pass the momentum network from momentumEncoder(online)")
  const trainable = new Set(online.trainableWeights)
  const updates = pairWeights(online, target, "target")
    .filter(([from]) => trainable.has(from))
    .map(([from, to]) => [variableOf("online", from), variableOf("target", to)] as const)
  for (const [from, to] of updates) {
    if (from === to) throw new InvalidArgumentError("target", "shares its weights with the online model: pass the momentum network from momentumEncoder(online)")
  }
  if (momentum === 1) return
  tf.tidy(() => {
    for (const [from, to] of updates) to.assign(momentum === 0 ? from : tf.add(tf.mul(to, momentum), tf.mul(from, 1 - momentum)))
  })
}
