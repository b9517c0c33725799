/**
 * The gradients of `Sum` and `Mean` without an activation-sized tensor of ones. tfjs-core's own
 * gradients multiply the reshaped upstream gradient by `ones(x.shape)`, which is filled in JavaScript
 * and uploaded on every call: batch norm's moments and every per-channel broadcast make that ~40 ms per
 * step of the demo network on wasm. These broadcast the (small) upstream gradient instead, which the
 * `Tile` kernel does by block copies. The values are the same bits: x · 1 = x, and the mean's division
 * happens on the same values, only before the broadcast.
 *
 * @since 0.1.0
 */
import { broadcastTo, div, type GradConfig, reshape, type Tensor, util } from "@tensorflow/tfjs-core"

const expandedGradient = (dy: Tensor, x: Tensor, axis: number | Array<number>) => {
  const axes = util.parseAxisParam(axis, x.shape)
  const expanded = x.shape.slice()
  for (const a of axes) expanded[a] = 1
  return { dy: reshape(dy, expanded), size: axes.reduce((n, a) => n * x.shape[a]!, 1) }
}

/**
 * @category gradients
 * @since 0.1.0
 */
export const sumGradConfig: GradConfig = {
  kernelName: "Sum",
  inputsToSave: ["x"],
  gradFunc: (dy, saved, attrs) => {
    const x = saved[0]!
    const { axis } = attrs as unknown as { axis: number | Array<number> }
    return { x: () => broadcastTo(expandedGradient(dy as Tensor, x, axis).dy, x.shape) }
  }
}

/**
 * @category gradients
 * @since 0.1.0
 */
export const meanGradConfig: GradConfig = {
  kernelName: "Mean",
  inputsToSave: ["x"],
  gradFunc: (dy, saved, attrs) => {
    const x = saved[0]!
    const { axis } = attrs as unknown as { axis: number | Array<number> }
    return {
      x: () => {
        const g = expandedGradient(dy as Tensor, x, axis)
        return broadcastTo(div(g.dy, g.size), x.shape)
      }
    }
  }
}
