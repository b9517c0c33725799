import * as tf from "@tensorflow/tfjs-core"

/** HSV channels of an RGB batch, each [B, H, W, 1]: hue in turns [0, 1), saturation and value in [0, 1]. */
export interface Hsv {
  readonly h: tf.Tensor
  readonly s: tf.Tensor
  readonly v: tf.Tensor
}

/**
 * The three channels of an RGB batch, each [B, H, W, 1]. A transpose to channels-first and slices along
 * the (now outer) channel axis: on wasm that is ~6× faster than tf.split on the last axis (5.6 vs 33 ms
 * at 128 × 32² × 3).
 */
const channelsOf = (rgb: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D] => {
  const [b, h, w] = rgb.shape
  return tf.unstack(tf.transpose(rgb, [3, 0, 1, 2])).map((c) => tf.reshape(c, [b, h, w, 1])) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D]
}

/** The inverse of `channelsOf`: stack channels-first and transpose back (wasm: 2.5 vs 34 ms for tf.concat on the last axis). */
const fromChannels = (channels: ReadonlyArray<tf.Tensor>): tf.Tensor4D => {
  const [b, h, w] = channels[0]!.shape as [number, number, number, number]
  return tf.transpose(tf.stack(channels.map((c) => tf.reshape(c, [b, h, w])), 0), [1, 2, 3, 0]) as tf.Tensor4D
}

/**
 * RGB → HSV as TF's `rgb_to_hsv` kernel and torchvision's `_rgb2hsv` compute it: V = max, S = (max − min) / max
 * (0 for black), H from the channel holding the max (red first, then green), 0 for grays; H in [0, 1).
 */
export const rgbToHsv = (rgb: tf.Tensor4D): Hsv => {
  const [r, g, b] = channelsOf(rgb)
  const v = tf.max(rgb, 3, true)
  const range = tf.sub(v, tf.min(rgb, 3, true))
  const gray = tf.lessEqual(range, 0)
  const safeRange = tf.where(gray, tf.onesLike(range), range)
  const safeV = tf.where(tf.greater(v, 0), v, tf.onesLike(v))
  const s = tf.where(tf.greater(v, 0), tf.div(range, safeV), tf.zerosLike(v))
  // Sextant offsets: red max → (g − b)/range, green max → 2 + (b − r)/range, blue max → 4 + (r − g)/range.
  const fromR = tf.div(tf.sub(g, b), safeRange)
  const fromG = tf.add(tf.div(tf.sub(b, r), safeRange), 2)
  const fromB = tf.add(tf.div(tf.sub(r, g), safeRange), 4)
  const sextant = tf.where(tf.equal(r, v), fromR, tf.where(tf.equal(g, v), fromG, fromB))
  let h = tf.div(sextant, 6)
  h = tf.where(tf.less(h, 0), tf.add(h, 1), h)
  h = tf.where(gray, tf.zerosLike(h), h)
  return { h, s, v }
}

/**
 * HSV → RGB: channel_n = V − V·S·clamp(min(k, 4 − k), 0, 1) with k = (n + 6H) mod 6, n = 5, 3, 1 for
 * R, G, B (the same values as the sextant tables of TF's `hsv_to_rgb` and torchvision's `_hsv2rgb`).
 */
export const hsvToRgb = ({ h, s, v }: Hsv): tf.Tensor4D => {
  const h6 = tf.mul(h, 6)
  const vs = tf.mul(v, s)
  const channel = (n: number) => {
    // (6H + n) mod 6 for 6H in [0, 6): one exact subtraction where it reaches 6 (tf.mod is slow on wasm).
    const t = tf.add(h6, n)
    const k = tf.where(tf.greaterEqual(t, 6), tf.sub(t, 6), t)
    const ramp = tf.clipByValue(tf.minimum(k, tf.sub(4, k)), 0, 1)
    return tf.sub(v, tf.mul(vs, ramp))
  }
  return fromChannels([channel(5), channel(3), channel(1)])
}
