/**
 * `tf.variableGrads` whose backward pass frees memory as it goes.
 *
 * tfjs-core's backward pass keeps the gradient of every intermediate tensor, and every tensor a kernel
 * saved for its gradient, until the whole pass ends: at its peak a ResNet step holds all activations
 * and all their gradients at once (1.19 GB of live tensors for ResNet-18 ×0.25 on 256 views). This one
 * walks the same tape in the same order and computes the same gradients with the same kernels, but
 * disposes a node's output gradients and its saved tensors as soon as the node is back-propagated (as
 * PyTorch's autograd does), so only the frontier is alive.
 *
 * It relies on tfjs-core 4.x's engine internals (the tape's nodes, `startTape`/`endTape`); under a
 * nested gradient computation (higher-order gradients) it hands over to `tf.variableGrads`.
 */
import * as tf from "@tensorflow/tfjs-core"

interface TapeNode {
  readonly id: number
  readonly kernelName: string
  readonly inputs: Record<string, tf.Tensor>
  readonly outputs: Array<tf.Tensor>
  readonly saved?: Array<tf.Tensor>
  readonly gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>
}

interface EngineInternals {
  readonly state: { activeTape: Array<TapeNode> | null; gradientDepth: number }
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T
  startTape(): void
  endTape(): void
  tidy<T extends tf.TensorContainer>(nameOrFn: string | (() => T), fn?: () => T): T
}

/** The nodes on a path from one of `xs` to `y`, with inputs not derived from `xs` pruned (as tfjs-core does). */
const nodesFromXToY = (tape: ReadonlyArray<TapeNode>, xs: ReadonlyArray<tf.Tensor>, y: tf.Tensor): Array<TapeNode> => {
  const fromX = new Set(xs.map((x) => x.id))
  const nodesFromX = new Set<number>()
  for (const node of tape) {
    if (Object.values(node.inputs).some((input) => fromX.has(input.id))) {
      for (const o of node.outputs) fromX.add(o.id)
      nodesFromX.add(node.id)
    }
  }
  const leadToY = new Set([y.id])
  const nodesToY = new Set<number>()
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!
    if (node.outputs.some((o) => leadToY.has(o.id))) {
      for (const input of Object.values(node.inputs)) leadToY.add(input.id)
      nodesToY.add(node.id)
    }
  }
  return tape
    .filter((node) => nodesFromX.has(node.id) && nodesToY.has(node.id))
    .map((node) => ({ ...node, inputs: Object.fromEntries(Object.entries(node.inputs).filter(([, input]) => fromX.has(input.id))) }))
}

/**
 * The value of `f` and its gradients with respect to the trainable variables in `varList`, by name
 * (as `tf.variableGrads`).
 *
 * @internal
 */
export const variableGradsFreeing = (f: () => tf.Scalar, varList: ReadonlyArray<tf.Variable>): { value: tf.Scalar; grads: tf.NamedTensorMap } => {
  const engine = tf.engine() as unknown as EngineInternals
  const vars = varList.filter((v) => v.trainable)
  if (engine.state.gradientDepth > 0 || vars.length === 0) return tf.variableGrads(f, [...varList])
  const y = engine.scopedRun(() => engine.startTape(), () => engine.endTape(), () => engine.tidy("forward", f))
  if (!(y instanceof tf.Tensor) || y.rank !== 0) throw new Error(`variableGradsFreeing: f must return a scalar tensor, got ${y instanceof tf.Tensor ? `rank ${y.rank}` : typeof y}`)
  const tape = engine.state.activeTape ?? []
  const filtered = nodesFromXToY(tape, vars, y)
  const { grads } = engine.tidy("backward", () => {
    const gradOf = new Map<number, tf.Tensor>()
    // How many entries of gradOf hold each tensor object (a gradient function may hand one on as is).
    const uses = new Map<tf.Tensor, number>()
    const hold = (id: number, t: tf.Tensor) => {
      gradOf.set(id, t)
      uses.set(t, (uses.get(t) ?? 0) + 1)
    }
    const release = (id: number) => {
      const t = gradOf.get(id)
      if (t === undefined) return
      gradOf.delete(id)
      const left = (uses.get(t) ?? 1) - 1
      if (left > 0) uses.set(t, left)
      else {
        uses.delete(t)
        t.dispose()
      }
    }
    hold(y.id, tf.onesLike(y))
    const varIds = new Set(vars.map((v) => v.id))
    for (let i = filtered.length - 1; i >= 0; i--) {
      const node = filtered[i]!
      if (node.gradient === undefined) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`)
      const inputGradients = node.gradient(node.outputs.map((o) => gradOf.get(o.id) ?? null))
      for (const [name, x] of Object.entries(node.inputs)) {
        const make = inputGradients[name]
        if (make === undefined) throw new Error(`Cannot backprop through input ${name}. Available gradients found: ${Object.keys(inputGradients)}.`)
        const dx = engine.tidy(make)
        if (dx.dtype !== "float32") throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, but has '${dx.dtype}'`)
        if (!tf.util.arraysEqual(dx.shape, x.shape)) {
          throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`)
        }
        const current = gradOf.get(x.id)
        if (current === undefined) hold(x.id, dx)
        else {
          const sum = tf.add(current, dx)
          release(x.id)
          if (!uses.has(dx)) dx.dispose()
          hold(x.id, sum)
        }
      }
      // Back-propagated: its outputs' gradients and the tensors it saved are no longer needed.
      for (const o of node.outputs) if (!varIds.has(o.id)) release(o.id)
      for (const t of node.saved ?? []) t.dispose()
    }
    const out: tf.NamedTensorMap = {}
    for (const v of vars) {
      const g = gradOf.get(v.id)
      if (g !== undefined) out[v.name] = g
    }
    // Whatever else is left (gradients of inputs outside the variables) goes with the tidy.
    return { grads: out }
  })
  for (const node of tape) for (const t of node.saved ?? []) t.dispose()
  engine.state.activeTape = null
  if (Object.keys(grads).length === 0) throw new Error("Cannot find a connection between any variable and the result of the loss function y=f(x).")
  return { value: y as tf.Scalar, grads }
}
