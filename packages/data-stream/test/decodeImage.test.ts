import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import sharp from "sharp"
import { decodeImage, type ImageInput, ImageDecodeError, type RawImage } from "../src/index.ts"
import { solid, useTempDir, writeFile } from "./fixtures.ts"

const RED = { r: 220, g: 20, b: 40 }
const BLUE = { r: 10, g: 30, b: 230 }

const decode = (input: ImageInput, height: number, width: number, extra: { fit?: "cover" | "fill" | "contain"; maxPixels?: number } = {}) =>
  decodeImage(input, "test-image", { height, width, ...extra })

const encoded = (bytes: Uint8Array): ImageInput => ({ kind: "encoded", bytes })

const pixel = (img: RawImage, y: number, x: number): [number, number, number] => {
  const at = 3 * (y * img.width + x)
  return [img.pixels[at]!, img.pixels[at + 1]!, img.pixels[at + 2]!]
}

/** Every pixel within `tolerance` (per channel) of `colour`. */
const assertAll = (img: RawImage, colour: { r: number; g: number; b: number }, tolerance: number) => {
  assert.strictEqual(img.channels, 3)
  assert.strictEqual(img.pixels.length, img.height * img.width * 3)
  let worst = 0
  for (let i = 0; i < img.pixels.length; i += 3) {
    worst = Math.max(worst, Math.abs(img.pixels[i]! - colour.r), Math.abs(img.pixels[i + 1]! - colour.g), Math.abs(img.pixels[i + 2]! - colour.b))
  }
  assert.isAtMost(worst, tolerance, `largest channel difference ${worst}`)
}

/** Left half `left`, right half `right`, as PNG. */
const halves = (width: number, height: number, left: typeof RED, right: typeof RED) => {
  const px = new Uint8Array(width * height * 3)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const c = x < width / 2 ? left : right
      px.set([c.r, c.g, c.b], 3 * (y * width + x))
    }
  }
  return px
}

describe("decodeImage", () => {
  // Lossless formats must reproduce the colour exactly; lossy ones within the stated tolerance.
  const formats = [["png", 0], ["tiff", 0], ["gif", 0], ["webp", 8], ["jpeg", 8], ["avif", 12]] as const
  for (const [format, tolerance] of formats) {
    it.effect(`decodes ${format} to 8-bit RGB of the requested size (tolerance ${tolerance})`, () =>
      Effect.gen(function*() {
        const bytes = yield* Effect.promise(() => solid(48, 36, RED, format))
        const img = yield* decode(encoded(bytes), 20, 30)
        assert.deepStrictEqual([img.height, img.width], [20, 30])
        assertAll(img, RED, tolerance)
      }))
  }

  it.effect("takes the first frame of an animated GIF", () =>
    Effect.gen(function*() {
      // Two 8×8 frames stacked: red, then blue.
      const frames = new Uint8Array(8 * 16 * 3)
      for (let p = 0; p < 8 * 16; p++) frames.set(p < 64 ? [RED.r, RED.g, RED.b] : [BLUE.r, BLUE.g, BLUE.b], 3 * p)
      const gif = yield* Effect.promise(() => sharp(frames, { raw: { width: 8, height: 16, channels: 3, pageHeight: 8 } }).gif().toBuffer())
      assert.strictEqual((yield* Effect.promise(() => sharp(gif).metadata())).pages, 2)
      assertAll(yield* decode(encoded(gif), 8, 8), RED, 0)
    }))

  it.effect("reads files from disk", () => {
    const dir = useTempDir()
    return Effect.gen(function*() {
      const path = writeFile(`${dir()}/a.png`, yield* Effect.promise(() => solid(8, 8, BLUE)))
      assertAll(yield* decode({ kind: "file", path }, 8, 8), BLUE, 0)
    })
  })

  it.effect("gray, gray+alpha, RGBA, palette and 16-bit PNGs become 8-bit RGB", () =>
    Effect.gen(function*() {
      const gray = yield* Effect.promise(() => sharp(new Uint8Array(64).fill(100), { raw: { width: 8, height: 8, channels: 1 } }).toColourspace("b-w").png().toBuffer())
      assert.strictEqual((yield* Effect.promise(() => sharp(gray).metadata())).channels, 1)
      assertAll(yield* decode(encoded(gray), 8, 8), { r: 100, g: 100, b: 100 }, 0)

      const grayAlpha = yield* Effect.promise(() =>
        sharp(new Uint8Array(128).map((_v, i) => (i % 2 === 0 ? 60 : 128)), { raw: { width: 8, height: 8, channels: 2 } }).toColourspace("b-w").png().toBuffer()
      )
      assert.strictEqual((yield* Effect.promise(() => sharp(grayAlpha).metadata())).channels, 2)
      assertAll(yield* decode(encoded(grayAlpha), 8, 8), { r: 60, g: 60, b: 60 }, 0)

      // Transparent pixels keep their colour, as PIL's convert("RGB") does (alpha is dropped, not blended).
      const rgba = yield* Effect.promise(() => sharp({ create: { width: 16, height: 16, channels: 4, background: { ...RED, alpha: 0 } } }).png().toBuffer())
      assertAll(yield* decode(encoded(rgba), 16, 16), RED, 0)
      assertAll(yield* decode(encoded(rgba), 5, 7), RED, 0)

      const palette = yield* Effect.promise(() => sharp({ create: { width: 8, height: 8, channels: 3, background: BLUE } }).png({ palette: true }).toBuffer())
      assert.isTrue((yield* Effect.promise(() => sharp(palette).metadata())).isPalette)
      assertAll(yield* decode(encoded(palette), 8, 8), BLUE, 2)

      const deep = yield* Effect.promise(() => sharp({ create: { width: 8, height: 8, channels: 3, background: RED } }).toColourspace("rgb16").png().toBuffer())
      assert.strictEqual((yield* Effect.promise(() => sharp(deep).metadata())).depth, "ushort")
      assertAll(yield* decode(encoded(deep), 8, 8), RED, 1)
    }))

  it.effect("CMYK JPEGs are converted to sRGB", () =>
    Effect.gen(function*() {
      const cmyk = yield* Effect.promise(() => sharp({ create: { width: 16, height: 16, channels: 3, background: RED } }).toColourspace("cmyk").jpeg().toBuffer())
      assert.strictEqual((yield* Effect.promise(() => sharp(cmyk).metadata())).space, "cmyk")
      // A CMYK round trip goes through a colour profile: the hue survives, not the exact values.
      const [r, g, b] = pixel(yield* decode(encoded(cmyk), 16, 16), 8, 8)
      assert.isAbove(r, 180)
      assert.isBelow(g, 60)
      assert.isBelow(b, 70)
    }))

  it.effect("applies the EXIF orientation before resizing", () =>
    Effect.gen(function*() {
      // 40 wide, 20 tall, red left half. Orientation 6 means "rotate 90° clockwise to display": the
      // displayed image is 20 wide and 40 tall with the red half on top.
      const stored = halves(40, 20, RED, BLUE)
      const jpeg = yield* Effect.promise(() => sharp(stored, { raw: { width: 40, height: 20, channels: 3 } }).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer())
      assert.strictEqual((yield* Effect.promise(() => sharp(jpeg).metadata())).orientation, 6)
      const img = yield* decode(encoded(jpeg), 40, 20, { fit: "fill" })
      const top = pixel(img, 5, 10)
      const bottom = pixel(img, 34, 10)
      assert.isAbove(top[0], 180, `top ${top}`)
      assert.isAbove(bottom[2], 180, `bottom ${bottom}`)
    }))

  it.effect("fit: cover crops the centre, fill stretches, contain pads with black", () =>
    Effect.gen(function*() {
      // 80×40, left half red, right half blue.
      const png = yield* Effect.promise(() => sharp(halves(80, 40, RED, BLUE), { raw: { width: 80, height: 40, channels: 3 } }).png().toBuffer())
      const cover = yield* decode(encoded(png), 20, 20, { fit: "cover" })
      assert.deepStrictEqual(pixel(cover, 10, 2), [RED.r, RED.g, RED.b])
      assert.deepStrictEqual(pixel(cover, 10, 17), [BLUE.r, BLUE.g, BLUE.b])
      const fill = yield* decode(encoded(png), 20, 20, { fit: "fill" })
      assert.deepStrictEqual(pixel(fill, 0, 0), [RED.r, RED.g, RED.b])
      assert.deepStrictEqual(pixel(fill, 19, 19), [BLUE.r, BLUE.g, BLUE.b])
      const contain = yield* decode(encoded(png), 20, 20, { fit: "contain" })
      assert.deepStrictEqual(pixel(contain, 0, 10), [0, 0, 0])
      assert.deepStrictEqual(pixel(contain, 19, 10), [0, 0, 0])
      assert.deepStrictEqual(pixel(contain, 10, 1), [RED.r, RED.g, RED.b])
    }))

  it.effect("raw pixels: same size passes through (gray repeated), other sizes are resized", () =>
    Effect.gen(function*() {
      const gray: ImageInput = { kind: "raw", pixels: new Uint8Array([0, 50, 100, 150]), width: 2, height: 2, channels: 1 }
      const same = yield* decode(gray, 2, 2)
      assert.deepStrictEqual([...same.pixels], [0, 0, 0, 50, 50, 50, 100, 100, 100, 150, 150, 150])
      const rgba: ImageInput = { kind: "raw", pixels: new Uint8Array(16 * 4).fill(7), width: 4, height: 4, channels: 4 }
      assertAll(yield* decode(rgba, 8, 8), { r: 7, g: 7, b: 7 }, 0)
    }))

  it.effect("bad input fails with an ImageDecodeError naming the image", () =>
    Effect.gen(function*() {
      const jpeg = yield* Effect.promise(() => sharp({ create: { width: 64, height: 64, channels: 3, background: RED, noise: { type: "gaussian", mean: 128, sigma: 40 } } }).jpeg().toBuffer())
      const cases: Array<[string, ImageInput]> = [
        ["zero bytes", encoded(new Uint8Array(0))],
        ["text", encoded(new TextEncoder().encode("this is not an image"))],
        ["truncated JPEG", encoded(jpeg.subarray(0, Math.floor(jpeg.length / 2)))],
        ["missing file", { kind: "file", path: "/definitely/not/here.png" }],
        ["wrong raw length", { kind: "raw", pixels: new Uint8Array(5), width: 2, height: 2, channels: 3 }]
      ]
      for (const [name, input] of cases) {
        const result = yield* Effect.result(decodeImage(input, `case:${name}`, { height: 8, width: 8 }))
        assert.isTrue(Result.isFailure(result), name)
        if (Result.isFailure(result)) {
          assert.instanceOf(result.failure, ImageDecodeError)
          assert.strictEqual(result.failure.id, `case:${name}`)
          assert.include(result.failure.message, `case:${name}`)
        }
      }
    }))

  it.effect("refuses images over the pixel limit before decoding them", () =>
    Effect.gen(function*() {
      const big = yield* Effect.promise(() => solid(200, 100, RED))
      const result = yield* Effect.result(decode(encoded(big), 8, 8, { maxPixels: 19_999 }))
      assert.isTrue(Result.isFailure(result))
      if (Result.isFailure(result)) assert.match(result.failure.reason, /pixel/i)
      assertAll(yield* decode(encoded(big), 8, 8, { maxPixels: 20_000 }), RED, 0)
    }))
})
