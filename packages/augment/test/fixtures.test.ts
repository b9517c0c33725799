/**
 * Every fixed-parameter op against fixtures computed independently at dev time
 * (tools/fixtures/augment.py): torchvision 0.14's functional ops for the "torchvision" style, and
 * numpy ports of the TensorFlow kernels (adjust_contrast, adjust_saturation, adjust_hue,
 * resize_bilinear / resize_bicubic with half-pixel centres and TF's 1024-entry cubic table) and of the
 * official SimCLR code (gaussian_blur, center_crop) for the "tf" style, all in float64 from the same
 * float32 inputs. The inputs include gray pixels, pure black and white, primaries, ties and hues near
 * the 0/1 wrap-around; parameters differ per image.
 *
 * Tolerance: |Δ| ≤ 1e-5 on [0, 1] images (atol), as the issue asks.
 */
import * as tf from "@tensorflow/tfjs-core"
import { useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import {
  adjustBrightness,
  adjustBrightnessAdditive,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  type Box,
  centerCrop,
  centerCropBox,
  type ColorStyle,
  flipLeftRight,
  gaussianBlur,
  resizedCrop,
  rgbToGrayscale
} from "../src/index.ts"
import fixtures from "./fixtures/augment.json" with { type: "json" }

type Params = Record<string, unknown>
const tolerance = { rtol: 0, atol: 1e-5 }
const styles = (op: string) => new Set(fixtures.cases.filter((c) => c.op === op).map((c) => c.style))

const run = (op: string, style: string, images: tf.Tensor4D, p: Params): tf.Tensor => {
  const s = style as ColorStyle
  switch (op) {
    case "rgbToGrayscale":
      return rgbToGrayscale(images)
    case "adjustBrightness":
      return adjustBrightness(images, p["factor"] as Array<number>)
    case "adjustBrightnessAdditive":
      return adjustBrightnessAdditive(images, p["delta"] as Array<number>)
    case "adjustContrast":
      return adjustContrast(images, p["factor"] as Array<number>, { style: s })
    case "adjustSaturation":
      return adjustSaturation(images, p["factor"] as Array<number>, { style: s })
    case "adjustHue":
      return adjustHue(images, p["delta"] as Array<number>)
    case "flipLeftRight":
      return flipLeftRight(images, p["mask"] as Array<number>)
    case "gaussianBlur":
      return gaussianBlur(images, {
        kernelSize: p["kernelSize"] as number,
        sigma: p["sigma"] as Array<number>,
        padding: p["padding"] as "reflect" | "zero"
      })
    case "resizedCrop":
      return resizedCrop(images, p["boxes"] as Array<Box>, p["size"] as [number, number], {
        method: p["method"] as "bilinear" | "bicubic",
        style: s
      })
    case "centerCrop":
      expect(centerCropBox(images.shape[1], images.shape[2], p["size"] as [number, number], p["cropProportion"] as number)).toEqual(p["box"])
      return centerCrop(images, p["size"] as [number, number], { cropProportion: p["cropProportion"] as number, method: "bicubic", style: s })
    default:
      throw new Error(`no op ${op} in the fixtures runner`)
  }
}

describe("fixed-parameter ops match the reference implementations", () => {
  useLeakCheck()
  const inputs = {
    images: fixtures.images,
    cropImages: fixtures.cropImages,
    centerImages: fixtures.centerImages
  } as Record<string, Array<Array<Array<Array<number>>>>>

  for (const c of fixtures.cases as Array<{ op: string; style: string; params: Params; input: string; output: Array<unknown> }>) {
    const label = `${c.op} (${c.style}) ${JSON.stringify({ ...c.params, boxes: undefined })}`
    it(`${label}`, () => {
      const images = tf.tensor4d(inputs[c.input]!)
      const out = run(c.op, c.style, images, c.params)
      const expected = tf.tensor(c.output as Array<number>)
      expect(out).toBeAllclose(expected, tolerance)
      tf.dispose([images, out, expected])
    })
  }

  it("the fixtures cover both styles of every style-dependent op", () => {
    for (const op of ["adjustContrast", "adjustSaturation", "adjustHue", "gaussianBlur", "resizedCrop"]) {
      expect([...styles(op)].toSorted()).toEqual(["tf", "torchvision"])
    }
  })
})
