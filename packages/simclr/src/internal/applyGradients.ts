import type * as tf from "@tensorflow/tfjs-core"
import { disposeState, type NamedTensors, type Optimizer, type OptimizerState } from "../optimizers.ts"

/**
 * One optimiser update from `tf.variableGrads` output (keyed by the variables' tfjs names) onto named
 * variables: weights off the loss path (no gradient) stay as they are. Assigns the new weights,
 * disposes the gradients and the old state, and returns the new state.
 */
export const applyGradients = (
  variables: Readonly<Record<string, tf.Variable>>,
  grads: NamedTensors,
  optimizer: Optimizer,
  state: OptimizerState,
  learningRate: number
): OptimizerState => {
  const named: Record<string, tf.Tensor> = {}
  for (const [name, variable] of Object.entries(variables)) {
    const g = grads[variable.name]
    if (g !== undefined) named[name] = g
  }
  const next = optimizer.update(variables, named, state, learningRate)
  for (const [name, variable] of Object.entries(variables)) variable.assign(next.weights[name]!)
  for (const t of [...Object.values(next.weights), ...Object.values(grads)]) t.dispose()
  disposeState(state)
  return next.state
}
