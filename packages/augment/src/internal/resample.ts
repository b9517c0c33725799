/**
 * Separable resampling of a per-image crop box to a common output size, with half-pixel centres and no
 * antialiasing. The taps (source indices) and weights are computed in float64 JavaScript per image and
 * axis, then applied with two batched gathers and weighted sums (rows, then columns), so every image can
 * have its own box.
 */
import * as tf from "@tensorflow/tfjs-core"

export type Interpolation = "bilinear" | "bicubic"
/** Bicubic flavour: `"tf"` = TF2 `tf.image.resize` (Keys a = −0.5, 1024-entry table, out-of-image taps dropped and renormalised); `"torchvision"` = torch (a = −0.75, edge taps repeated). */
export type ResampleStyle = "tf" | "torchvision"

/** Taps of one axis for one image: `index[o·K + k]` (absolute, in the full image) and `weight[o·K + k]`. */
interface AxisTaps {
  readonly index: Int32Array
  readonly weight: Float64Array
}

const KEYS_TABLE_SIZE = 1024

/** Cubic convolution kernel with parameter a, at distance x ≥ 0. */
const cubic = (x: number, a: number): number =>
  x <= 1 ? ((a + 2) * x - (a + 3)) * x * x + 1 : x < 2 ? ((a * x - 5 * a) * x + 8 * a) * x - 4 * a : 0

/** Round half to even (C's lrintf in the default rounding mode). */
export const roundHalfEven = (x: number): number => {
  const r = Math.round(x)
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r
}

/**
 * Taps for resampling `length` source pixels starting at `offset` to `out` pixels.
 */
export const axisTaps = (
  offset: number,
  length: number,
  out: number,
  method: Interpolation,
  style: ResampleStyle
): AxisTaps & { readonly taps: number } => {
  const scale = length / out
  const last = length - 1
  const clamp = (i: number) => Math.min(Math.max(i, 0), last)
  if (method === "bilinear") {
    const index = new Int32Array(out * 2)
    const weight = new Float64Array(out * 2)
    for (let o = 0; o < out; o++) {
      const src = Math.max((o + 0.5) * scale - 0.5, 0)
      const i0 = Math.min(Math.floor(src), last)
      const frac = src - i0
      index[2 * o] = offset + i0
      index[2 * o + 1] = offset + Math.min(i0 + 1, last)
      weight[2 * o] = 1 - frac
      weight[2 * o + 1] = frac
    }
    return { index, weight, taps: 2 }
  }
  const index = new Int32Array(out * 4)
  const weight = new Float64Array(out * 4)
  for (let o = 0; o < out; o++) {
    const src = (o + 0.5) * scale - 0.5
    const i0 = Math.floor(src)
    if (style === "torchvision") {
      const t = src - i0
      const w = [cubic(t + 1, -0.75), cubic(t, -0.75), cubic(1 - t, -0.75), cubic(2 - t, -0.75)]
      for (let k = 0; k < 4; k++) {
        index[4 * o + k] = offset + clamp(i0 - 1 + k)
        weight[4 * o + k] = w[k]!
      }
    } else {
      // TF resize_bicubic, half_pixel_centers: coefficients from a table indexed by lrintf(t · 1024).
      const q = roundHalfEven((src - i0) * KEYS_TABLE_SIZE) / KEYS_TABLE_SIZE
      const w = [cubic(q + 1, -0.5), cubic(q, -0.5), cubic(1 - q, -0.5), cubic(2 - q, -0.5)]
      let sum = 0
      for (let k = 0; k < 4; k++) {
        const i = i0 - 1 + k
        const inside = i >= 0 && i <= last
        index[4 * o + k] = offset + clamp(i)
        weight[4 * o + k] = inside ? w[k]! : 0
        sum += inside ? w[k]! : 0
      }
      for (let k = 0; k < 4; k++) weight[4 * o + k]! /= sum
    }
  }
  return { index, weight, taps: 4 }
}

/**
 * Resamples along `axis` (1 = rows, 2 = columns) of a batch with per-image taps: `taps[b]` holds `out`
 * positions × K taps. Returns [B, out, W, C] (axis 1) or [B, H, out, C] (axis 2). Each tap is one
 * batched gather of whole rows plus a multiply-add (columns go through a transpose, because gathering
 * whole rows is several times faster than gathering single pixels on the cpu backend).
 */
export const resampleAxis = (
  images: tf.Tensor4D,
  axis: 1 | 2,
  perImageTaps: ReadonlyArray<AxisTaps & { readonly taps: number }>,
  out: number
): tf.Tensor4D =>
  tf.tidy(() => {
    if (axis === 2) {
      const rowsFirst = tf.transpose(images, [0, 2, 1, 3]) as tf.Tensor4D
      return tf.transpose(resampleAxis(rowsFirst, 1, perImageTaps, out), [0, 2, 1, 3]) as tf.Tensor4D
    }
    const [batch, height, width, channels] = images.shape
    const k = perImageTaps[0]!.taps
    // Rows of all images in one axis: image b's row r is row b·H + r (a plain gather; the batchDims form
    // of gather gives wrong results on the wasm backend of tfjs 4.22).
    const flat = tf.reshape(images, [batch * height, width, channels])
    let sum: tf.Tensor4D | undefined
    for (let tap = 0; tap < k; tap++) {
      const index = new Int32Array(batch * out)
      const weight = new Float32Array(batch * out)
      perImageTaps.forEach((t, b) => {
        for (let o = 0; o < out; o++) {
          index[b * out + o] = b * height + t.index[o * k + tap]!
          weight[b * out + o] = t.weight[o * k + tap]!
        }
      })
      const rows = tf.reshape(tf.gather(flat, tf.tensor1d(index, "int32"), 0), [batch, out, width, channels])
      const term = tf.mul(rows, tf.tensor4d(weight, [batch, out, 1, 1])) as tf.Tensor4D
      sum = sum === undefined ? term : (tf.add(sum, term) as tf.Tensor4D)
    }
    return sum!
  })
