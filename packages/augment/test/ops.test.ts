/**
 * Properties of the fixed-parameter ops that the fixtures do not spell out: exact identities, the HSV
 * round trip on grays, black and white, hue wrap-around, per-image parameters, clipping, and errors.
 */
import * as tf from "@tensorflow/tfjs-core"
import { randomUniform, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  flipLeftRight,
  gaussianBlur,
  gaussianKernel1d,
  InvalidArgumentError,
  resizedCrop,
  rgbToGrayscale
} from "../src/index.ts"

const values = (t: tf.Tensor) => Array.from(t.dataSync())

describe("colour ops", () => {
  useLeakCheck()

  it("hue rotation leaves grays, black and white unchanged and wraps around (a full turn in two halves is the identity)", () => {
    const special = tf.tensor4d([0, 0, 0, 1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25], [1, 2, 2, 3])
    for (const delta of [-0.5, -0.2, 0.3, 0.5]) {
      const out = adjustHue(special, delta)
      expect(out).toBeAllclose(special, { rtol: 0, atol: 1e-6 })
      out.dispose()
    }
    const images = randomUniform([3, 5, 5, 3], 1) as tf.Tensor4D
    const half = adjustHue(images, 0.5)
    const back = adjustHue(half, -0.5)
    expect(back).toBeAllclose(images, { rtol: 0, atol: 2e-6 })
    // Red rotated by 1/3 turn is green, by −1/3 blue.
    const red = tf.tensor4d([1, 0, 0], [1, 1, 1, 3])
    const [g, b] = [adjustHue(red, 1 / 3), adjustHue(red, -1 / 3)]
    expect(g).toBeAllclose([0, 1, 0], { rtol: 0, atol: 1e-6 })
    expect(b).toBeAllclose([0, 0, 1], { rtol: 0, atol: 1e-6 })
    tf.dispose([special, images, half, back, red, g, b])
  })

  it("factor 1 is the identity for brightness, contrast and saturation in both styles", () => {
    const images = randomUniform([2, 4, 4, 3], 2) as tf.Tensor4D
    const outs = [
      adjustBrightness(images, 1),
      adjustContrast(images, 1),
      adjustContrast(images, 1, { style: "torchvision" }),
      adjustSaturation(images, 1),
      adjustSaturation(images, 1, { style: "torchvision" })
    ]
    for (const out of outs) expect(out).toBeAllclose(images, { rtol: 0, atol: 2e-6 })
    tf.dispose([images, outs])
  })

  it("saturation 0 gives gray: TF style keeps V = max channel, torchvision style the luma", () => {
    const pixel = tf.tensor4d([0.8, 0.4, 0.2], [1, 1, 1, 3])
    const tfStyle = adjustSaturation(pixel, 0)
    const tvStyle = adjustSaturation(pixel, 0, { style: "torchvision" })
    expect(tfStyle).toBeAllclose([0.8, 0.8, 0.8], { rtol: 0, atol: 1e-6 })
    const luma = 0.2989 * 0.8 + 0.587 * 0.4 + 0.114 * 0.2
    expect(tvStyle).toBeAllclose([luma, luma, luma], { rtol: 0, atol: 1e-6 })
    tf.dispose([pixel, tfStyle, tvStyle])
  })

  it("contrast: TF style uses each channel's mean, torchvision one gray mean", () => {
    // Two pixels per image; channel means (0.5, 0.2, 0.8); factor 0 collapses onto the mean.
    const images = tf.tensor4d([0, 0.1, 0.6, 1, 0.3, 1], [1, 1, 2, 3])
    const tfStyle = adjustContrast(images, 0)
    expect(tfStyle).toBeAllclose([0.5, 0.2, 0.8, 0.5, 0.2, 0.8], { rtol: 0, atol: 1e-6 })
    const tvStyle = adjustContrast(images, 0, { style: "torchvision" })
    const gray = (0.2989 * 0.5 + 0.587 * 0.2 + 0.114 * 0.8)
    expect(tvStyle).toBeAllclose(Array.from({ length: 6 }, () => gray), { rtol: 0, atol: 1e-6 })
    tf.dispose([images, tfStyle, tvStyle])
  })

  it("applies one factor per image and clips to [0, 1]", () => {
    const images = tf.fill([3, 2, 2, 3], 0.6) as tf.Tensor4D
    const out = adjustBrightness(images, [0, 1, 2])
    expect(tf.tidy(() => values(tf.max(out, [1, 2, 3])))).toEqual([0, 0.6000000238418579, 1])
    // The reference weights sum to 0.9999, not 1: a flat 0.6 becomes 0.59994 (as in TF and torchvision).
    const gray = rgbToGrayscale(images)
    expect(gray).toBeAllclose(Array.from({ length: 36 }, () => 0.6 * 0.9999), { rtol: 0, atol: 1e-6 })
    tf.dispose([images, out, gray])
  })
})

describe("geometry ops", () => {
  useLeakCheck()

  it("flips only the masked images and keeps the others bit-exact", () => {
    const images = randomUniform([3, 2, 3, 3], 3) as tf.Tensor4D
    const out = flipLeftRight(images, [true, false, 1])
    const parts = tf.unstack(out)
    const inputs = tf.unstack(images)
    const mirrored = tf.reverse(inputs[0]!, 1)
    expect(values(parts[1]!)).toEqual(values(inputs[1]!))
    expect(values(parts[0]!)).toEqual(values(mirrored))
    tf.dispose([images, out, parts, inputs, mirrored])
  })

  it("a whole-image box at the same size is the identity, bilinear and bicubic", () => {
    const images = randomUniform([2, 7, 5, 3], 4) as tf.Tensor4D
    for (const method of ["bilinear", "bicubic"] as const) {
      for (const style of ["tf", "torchvision"] as const) {
        const out = resizedCrop(images, [0, 0, 7, 5], [7, 5], { method, style })
        expect(out).toBeAllclose(images, { rtol: 0, atol: 1e-6 })
        out.dispose()
      }
    }
    tf.dispose(images)
  })

  it("samples inside the box only (edges repeat at the box border, not the image border)", () => {
    // Column 1 is white, the rest black; a box over columns 2–3 must stay black when upsampled.
    const images = tf.tidy(() => tf.tile(tf.reshape(tf.tensor1d([0, 1, 0, 0]), [1, 1, 4, 1]), [1, 4, 1, 3])) as tf.Tensor4D
    for (const method of ["bilinear", "bicubic"] as const) {
      const out = resizedCrop(images, [0, 2, 4, 2], [4, 8], { method })
      expect(tf.tidy(() => tf.max(out).dataSync()[0])).toBe(0)
      out.dispose()
    }
    images.dispose()
  })

  it("Gaussian kernel: normalised, symmetric, peaked; blur keeps a constant image constant (reflect)", () => {
    const k = gaussianKernel1d(7, 1.3)
    expect(k.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12)
    expect(k[0]).toBeCloseTo(k[6]!, 15)
    expect(k[3]).toBeGreaterThan(k[2]!)
    const flat = tf.fill([2, 6, 6, 3], 0.3) as tf.Tensor4D
    const reflect = gaussianBlur(flat, { kernelSize: 5, sigma: [0.7, 2] })
    expect(reflect).toBeAllclose(flat, { rtol: 0, atol: 1e-6 })
    // Zero padding darkens the border (the official code's behaviour).
    const zero = gaussianBlur(flat, { kernelSize: 5, sigma: 2, padding: "zero" })
    expect(tf.tidy(() => tf.min(zero).dataSync()[0])).toBeLessThan(0.25)
    tf.dispose([flat, reflect, zero])
  })
})

describe("op errors name the argument", () => {
  useLeakCheck()

  it("rejects bad images, factors and options", () => {
    const ok = tf.zeros([2, 4, 4, 3])
    const gray = tf.zeros([2, 4, 4, 1])
    const rank2 = tf.zeros([4, 4])
    expect(() => adjustHue(gray, 0.1)).toThrow(/^images: expected 3 channels \(RGB\), got 1 .*tf\.tile/)
    expect(() => adjustSaturation(rank2, 1)).toThrow(/^images: expected rank 4 NHWC images/)
    expect(() => adjustHue(ok, 0.7)).toThrow(/^delta: must be in \[-0\.5, 0\.5\] \(turns\), got 0\.7/)
    expect(() => adjustBrightness(ok, [1, 2, 3])).toThrow(/^factor: expected one value per image: 2 values, got 3/)
    expect(() => adjustContrast(ok, -1)).toThrow(/^factor: must be ≥ 0, got -1/)
    expect(() => adjustContrast(ok, 1, { style: "pil" as never })).toThrow(/^options\.style: must be one of "tf", "torchvision"; got "pil"/)
    expect(() => gaussianBlur(ok, { kernelSize: 4, sigma: 1 })).toThrow(/^options\.kernelSize: must be odd, got 4/)
    expect(() => gaussianBlur(ok, { kernelSize: 9, sigma: 1 })).toThrow(/^options\.kernelSize: reflect padding needs a radius smaller than the image/)
    expect(() => gaussianBlur(ok, { kernelSize: 3, sigma: 0 })).toThrow(/^options\.sigma: must be > 0, got 0/)
    expect(() => resizedCrop(ok, [0, 0, 5, 4], [2, 2])).toThrow(/^boxes: box 0 \[0, 0, 5, 4\] must be integers with height, width ≥ 1 inside the 4×4 image/)
    expect(() => resizedCrop(ok, [[0, 0, 2, 2]], [2, 2])).toThrow(/^boxes: expected 2 boxes \(one per image\), got 1/)
    expect(() => resizedCrop(ok, [0, 0, 2, 2], [2, 2], { method: "lanczos" as never })).toThrow(/^options\.method: must be one of "bilinear", "bicubic"/)
    expect(() => flipLeftRight(ok, [true])).toThrow(InvalidArgumentError)
    tf.dispose([ok, gray, rank2])
  })

  it("RGB-only ops refuse 4 channels by name; brightness, TF-style contrast and the geometry ops take any C", () => {
    const rgba = randomUniform([2, 4, 4, 4], 9) as tf.Tensor4D
    for (const op of [
      () => adjustHue(rgba, 0.1),
      () => adjustSaturation(rgba, 0.5),
      () => adjustSaturation(rgba, 0.5, { style: "torchvision" }),
      () => adjustContrast(rgba, 0.5, { style: "torchvision" }),
      () => rgbToGrayscale(rgba)
    ]) {
      expect(op).toThrow(/^images: expected 3 channels \(RGB\), got 4 .*alpha/)
    }
    const outs = [
      adjustBrightness(rgba, 0.5),
      adjustContrast(rgba, 0.5),
      flipLeftRight(rgba),
      gaussianBlur(rgba, { kernelSize: 3, sigma: 1 }),
      resizedCrop(rgba, [0, 0, 4, 4], [2, 2])
    ]
    for (const out of outs) expect(out.shape[3]).toBe(4)
    tf.dispose([rgba, outs])
  })
})

describe("values outside [0, 1] (documented: the ops do not check the range)", () => {
  useLeakCheck()

  it("colour ops clip their output to [0, 1]; flip, blur and bilinear resizing are linear and keep the scale; bicubic clips", () => {
    const unit = randomUniform([2, 6, 6, 3], 10) as tf.Tensor4D
    const bytes = tf.mul(unit, 255) as tf.Tensor4D
    for (const out of [adjustBrightness(bytes, 1.2), adjustContrast(bytes, 0.5), adjustSaturation(bytes, 0.5), adjustHue(bytes, 0.2)]) {
      expect(tf.tidy(() => [tf.min(out).dataSync()[0]!, tf.max(out).dataSync()[0]!])).toEqual([expect.any(Number), 1])
      expect(tf.tidy(() => tf.min(out).dataSync()[0]!)).toBeGreaterThanOrEqual(0)
      out.dispose()
    }
    const linear = (f: (x: tf.Tensor4D) => tf.Tensor4D) => {
      const [scaled, plain] = [f(bytes), f(unit)]
      const expected = tf.mul(plain, 255)
      expect(scaled).toBeAllclose(expected, { rtol: 1e-6, atol: 1e-4 })
      tf.dispose([scaled, plain, expected])
    }
    linear((x) => flipLeftRight(x))
    linear((x) => gaussianBlur(x, { kernelSize: 3, sigma: 1, padding: "zero" }))
    linear((x) => resizedCrop(x, [1, 1, 4, 5], [7, 3], { method: "bilinear" }))
    const bicubic = resizedCrop(bytes, [0, 0, 6, 6], [9, 9], { method: "bicubic" })
    expect(tf.tidy(() => tf.max(bicubic).dataSync()[0]!)).toBe(1)
    tf.dispose([unit, bytes, bicubic])
  })
})
