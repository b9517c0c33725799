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

/**
 * The gradient of a reduction over `axis`: the upstream gradient reshaped to keep the reduced axes as
 * 1 and broadcast back to x's shape, divided by the number of reduced elements for a mean.
 */
const reductionGradient = (kernelName: "Sum" | "Mean"): GradConfig => ({
  kernelName,
  inputsToSave: ["x"],
  gradFunc: (dy, saved, attrs) => {
    const x = saved[0]!
    const axes = util.parseAxisParam((attrs as unknown as { axis: number | Array<number> }).axis, x.shape)
    return {
      x: () => {
        const expanded = x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
        const g = reshape(dy as Tensor, expanded)
        return broadcastTo(kernelName === "Mean" ? div(g, axes.reduce((n, a) => n * x.shape[a]!, 1)) : g, x.shape)
      }
    }
  }
})

/**
 * @category gradients
 * @since 0.1.0
 */
export const sumGradConfig: GradConfig = reductionGradient("Sum")

/**
 * @category gradients
 * @since 0.1.0
 */
export const meanGradConfig: GradConfig = reductionGradient("Mean")
