/**
 * Decoding with sharp: any format libvips reads (JPEG, PNG, WebP, GIF first frame, TIFF, AVIF, …) to
 * 8-bit sRGB pixels of an exact size, with the EXIF orientation applied.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { readFile } from "node:fs/promises"
import sharp, { type Sharp } from "sharp"
import { ImageDecodeError, reasonOf } from "./DataStreamError.ts"
import type { ImageInput, RawImage } from "./Source.ts"

/**
 * How an image is brought to the target size: `"cover"` resizes the shorter side to the target and
 * crops the centre (nothing stretched, edges of non-square images lost), `"fill"` stretches to the
 * exact size, `"contain"` fits the whole image and pads with black.
 *
 * @category models
 * @since 0.1.0
 */
export type Fit = "cover" | "fill" | "contain"

/**
 * @category models
 * @since 0.1.0
 */
export interface DecodeOptions {
  readonly height: number
  readonly width: number
  /** Default `"cover"`. */
  readonly fit?: Fit | undefined
  /**
   * Images with more pixels than this are rejected before decoding (decompression bombs). Default
   * 100,000,000.
   */
  readonly maxPixels?: number | undefined
}

/** The default pixel limit: 100 megapixels. */
export const DEFAULT_MAX_PIXELS = 100_000_000

const position = "centre"

/**
 * Decodes `input` to an RGB image of exactly `height × width` (3 channels, 8 bits). Gray, gray+alpha,
 * RGBA, CMYK, palette and 16-bit images are all converted to 8-bit sRGB; alpha is dropped (as PIL's
 * `convert("RGB")` does); the EXIF orientation is applied before resizing; large JPEG/WebP images are
 * shrunk while decoding. Resizing uses sharp's Lanczos-3 with antialiasing.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decodeImage = (input: ImageInput, id: string, options: DecodeOptions): Effect.Effect<RawImage, ImageDecodeError> =>
  Effect.tryPromise({
    try: async () => {
      const { height, width } = options
      const raw = input.kind === "raw" ? input : input.kind === "lazy" ? input.render({ height: options.height, width: options.width }) : undefined
      if (raw !== undefined && raw.height === height && raw.width === width) return toRgb(checkedRaw(raw), raw.channels, height, width)
      let bytes: Uint8Array | undefined
      if (input.kind === "file") bytes = await readFile(input.path)
      else if (input.kind === "encoded") bytes = input.bytes
      if (bytes !== undefined && bytes.length === 0) throw new Error("empty file")
      const limitInputPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS
      let image: Sharp
      if (raw !== undefined) {
        const rgb = toRgb(checkedRaw(raw), raw.channels, raw.height, raw.width)
        image = sharp(rgb.pixels, { raw: { width: raw.width, height: raw.height, channels: 3 }, limitInputPixels })
      } else {
        image = sharp(bytes, { limitInputPixels, failOn: "error", pages: 1 })
        // JPEG has no alpha channel: skip the extra header read for the most common format.
        const jpeg = bytes !== undefined && bytes[0] === 0xff && bytes[1] === 0xd8
        if (!jpeg && (await image.metadata()).hasAlpha) {
          // Resizing premultiplies by alpha, which would blacken transparent areas; PIL's
          // convert("RGB") (torchvision's loader) keeps their colour. So alpha goes first, at full size.
          const flat = await image.rotate().removeAlpha().toColourspace("srgb").raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true })
          image = sharp(flat.data, { raw: { width: flat.info.width, height: flat.info.height, channels: 3 }, limitInputPixels })
        }
      }
      const { data, info } = await image
        .rotate()
        .resize(width, height, { fit: options.fit ?? "cover", position, background: { r: 0, g: 0, b: 0 } })
        .removeAlpha()
        .toColourspace("srgb")
        .raw({ depth: "uchar" })
        .toBuffer({ resolveWithObject: true })
      if (info.channels !== 3 || info.width !== width || info.height !== height) {
        throw new Error(`decoded to ${info.width}×${info.height}×${info.channels}, expected ${width}×${height}×3`)
      }
      return { pixels: new Uint8Array(data.buffer, data.byteOffset, data.length), height, width, channels: 3 } as RawImage
    },
    catch: (error) => new ImageDecodeError({ id, reason: reasonOf(error) })
  })

const checkedRaw = (raw: RawImage): Uint8Array => {
  const expected = raw.width * raw.height * raw.channels
  if (!(raw.width >= 1 && raw.height >= 1) || raw.pixels.length !== expected) {
    throw new Error(`${raw.pixels.length} bytes for a ${raw.height}×${raw.width}×${raw.channels} image (expected ${expected})`)
  }
  return raw.pixels
}

/** Same-size pixels to RGB without a round trip through libvips: gray is repeated, alpha dropped. */
const toRgb = (pixels: Uint8Array, channels: number, height: number, width: number): RawImage => {
  if (channels === 3) return { pixels, height, width, channels: 3 }
  const n = height * width
  const out = new Uint8Array(n * 3)
  for (let p = 0; p < n; p++) {
    const at = p * channels
    const gray = channels <= 2
    out[3 * p] = pixels[at]!
    out[3 * p + 1] = pixels[gray ? at : at + 1]!
    out[3 * p + 2] = pixels[gray ? at : at + 2]!
  }
  return { pixels: out, height, width, channels: 3 }
}
