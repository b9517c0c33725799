/**
 * Argument checks shared by the @simclr tensor packages: each names the bad argument and what it allows,
 * by throwing an {@link InvalidArgumentError}.
 */
import * as tf from "@tensorflow/tfjs-core"
import { InvalidArgumentError } from "./SimclrError.ts"

export const shapeOf = (shape: ReadonlyArray<number>): string => `[${shape.join(", ")}]`

/** A short, never-throwing rendering of a bad value for an error message. */
export const describe = (value: unknown): string => {
  if (typeof value === "string") return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`
  if (value instanceof tf.Tensor) return `a tensor of shape ${shapeOf(value.shape)}`
  if (typeof value !== "object" || value === null) return String(value)
  let text: string
  try {
    text = JSON.stringify(value) ?? String(value)
  } catch {
    text = `a non-serialisable ${value.constructor?.name ?? "object"}`
  }
  return text.length > 80 ? `${text.slice(0, 80)}…` : text
}

/**
 * Asserts a float32 NHWC batch `[B, H, W, C]` with B, H, W ≥ 1. `channels` restricts C (colour ops need
 * RGB). Narrows to `tf.Tensor4D`.
 */
export function assertImages(name: string, value: unknown, channels?: ReadonlyArray<number>): asserts value is tf.Tensor4D {
  if (!(value instanceof tf.Tensor)) {
    throw new InvalidArgumentError(name, `expected a tf.Tensor of NHWC images [B, H, W, C], got ${describe(value)}`)
  }
  if (value.isDisposed) throw new InvalidArgumentError(name, "the tensor is disposed")
  if (value.rank !== 4) {
    throw new InvalidArgumentError(
      name,
      `expected rank 4 NHWC images [B, H, W, C], got rank ${value.rank} with shape ${shapeOf(value.shape)}` +
        (value.rank === 3 ? " (add a batch axis: tf.expandDims(image, 0))" : "")
    )
  }
  if (value.dtype !== "float32") {
    throw new InvalidArgumentError(
      name,
      `expected float32 values in [0, 1], got dtype ${value.dtype}` +
        (value.dtype === "int32" ? " (8-bit pixels: convert with tf.div(tf.cast(images, 'float32'), 255))" : "")
    )
  }
  const [b, h, w, c] = value.shape as [number, number, number, number]
  if (b === 0 || h === 0 || w === 0) throw new InvalidArgumentError(name, `empty batch or image: shape ${shapeOf(value.shape)}`)
  if (channels !== undefined && !channels.includes(c)) {
    throw new InvalidArgumentError(
      name,
      `expected ${channels.join(" or ")} channels (RGB), got ${c} in shape ${shapeOf(value.shape)}` +
        (c === 1 ? " (gray images: tf.tile(images, [1, 1, 1, 3]))" : c === 4 ? " (drop alpha: tf.slice(images, [0, 0, 0, 0], [-1, -1, -1, 3]))" : "")
    )
  }
}

/**
 * One finite number per image: a scalar applies to every image, an array must have one entry per image.
 * `check` validates each value and returns an error message, or undefined.
 */
export const perImage = (
  name: string,
  value: unknown,
  batch: number,
  check: (v: number) => string | undefined = () => undefined
): Array<number> => {
  const values =
    typeof value === "number"
      ? Array.from({ length: batch }, () => value)
      : Array.isArray(value) || ArrayBuffer.isView(value)
        ? Array.from(value as ArrayLike<unknown>) as Array<number>
        : undefined
  if (values === undefined) {
    throw new InvalidArgumentError(name, `expected a number or one number per image (${batch}), got ${describe(value)}`)
  }
  if (values.length !== batch) {
    throw new InvalidArgumentError(name, `expected one value per image: ${batch} values, got ${values.length}`)
  }
  values.forEach((v, i) => {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new InvalidArgumentError(name, `expected finite numbers, got ${describe(v)}${typeof value === "number" ? "" : ` at index ${i}`}`)
    }
    const problem = check(v)
    if (problem !== undefined) throw new InvalidArgumentError(name, `${problem}, got ${v}${typeof value === "number" ? "" : ` at index ${i}`}`)
  })
  return values
}

/** A [B, 1, 1, 1] float32 tensor of per-image values. */
export const perImageTensor = (values: ReadonlyArray<number>): tf.Tensor4D =>
  tf.tensor4d(Float32Array.from(values), [values.length, 1, 1, 1])

export const oneOf = <const A extends string>(name: string, value: unknown, allowed: ReadonlyArray<A>, fallback: A): A => {
  if (value === undefined) return fallback
  if (typeof value !== "string" || !(allowed as ReadonlyArray<string>).includes(value)) {
    throw new InvalidArgumentError(name, `must be one of ${allowed.map((a) => `"${a}"`).join(", ")}; got ${describe(value)}`)
  }
  return value as A
}

export const numberIn = (
  name: string,
  value: unknown,
  fallback: number,
  [min, max]: readonly [number, number],
  { integer = false, openMin = false }: { integer?: boolean; openMin?: boolean } = {}
): number => {
  if (value === undefined) return fallback
  const ok =
    typeof value === "number" &&
    Number.isFinite(value) &&
    (openMin ? value > min : value >= min) &&
    value <= max &&
    (!integer || Number.isInteger(value))
  if (!ok) {
    const kind = integer ? "an integer" : "a number"
    throw new InvalidArgumentError(name, `must be ${kind} in ${openMin ? "(" : "["}${min}, ${max}], got ${describe(value)}`)
  }
  return value as number
}

export const booleanOption = (name: string, value: unknown, fallback: boolean): boolean => {
  if (value === undefined) return fallback
  if (typeof value !== "boolean") throw new InvalidArgumentError(name, `must be true or false, got ${describe(value)}`)
  return value
}

/** Rejects option keys the function does not know (a typo would otherwise be silently ignored). */
export const knownKeys = (name: string, options: unknown, keys: ReadonlyArray<string>): Record<string, unknown> => {
  if (options === undefined) return {}
  if (options instanceof tf.Tensor) {
    throw new InvalidArgumentError(
      name,
      `expected an options object, got ${describe(options)}` +
        (keys.includes("negatives") ? "; extra negatives go in options.negatives" : "")
    )
  }
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError(name, `must be an object, got ${describe(options)}`)
  }
  for (const key of Object.keys(options)) {
    if (!keys.includes(key)) {
      throw new InvalidArgumentError(
        `${name}.${key}`,
        `unknown option; known options are ${keys.map((k) => `"${k}"`).join(", ")}`
      )
    }
  }
  return options as Record<string, unknown>
}

/** An image size [height, width] of positive integers. */
export const imageSize = (name: string, value: unknown): [number, number] => {
  if (
    !Array.isArray(value) ||
    value.length !== 2 ||
    !value.every((v) => typeof v === "number" && Number.isInteger(v) && v >= 1)
  ) {
    throw new InvalidArgumentError(name, `expected [height, width] of positive integers, got ${describe(value)}`)
  }
  return [value[0] as number, value[1] as number]
}

/** A seed: any safe integer. */
export const seedOf = (name: string, value: unknown): number => {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new InvalidArgumentError(name, `expected an integer seed, got ${describe(value)}`)
  }
  return value
}

/**
 * Asserts a float32 tensor of rank 2 with at least one row and one column (`minRows` 0 allows an empty
 * one). Narrows `value` to a `tf.Tensor2D`.
 */
export function assertMatrix(name: string, value: unknown, meaning: string, minRows = 1): asserts value is tf.Tensor2D {
  if (!(value instanceof tf.Tensor)) {
    throw new InvalidArgumentError(name, `expected a tf.Tensor of shape ${meaning}, got ${describe(value)}`)
  }
  if (value.isDisposed) throw new InvalidArgumentError(name, "the tensor is disposed")
  if (value.rank !== 2) {
    throw new InvalidArgumentError(name, `expected rank 2 ${meaning}, got rank ${value.rank} with shape ${shapeOf(value.shape)}`)
  }
  if (value.dtype !== "float32") {
    throw new InvalidArgumentError(name, `expected dtype float32, got ${value.dtype} (shape ${shapeOf(value.shape)})`)
  }
  const [rows, cols] = value.shape as [number, number]
  if (rows < minRows) {
    throw new InvalidArgumentError(
      name,
      minRows === 1 ? `empty batch: shape ${shapeOf(value.shape)}` : `needs at least ${minRows} rows, got shape ${shapeOf(value.shape)}`
    )
  }
  if (cols === 0) throw new InvalidArgumentError(name, `zero-width rows: shape ${shapeOf(value.shape)}`)
}

export const assertSameShape = (aName: string, a: tf.Tensor, bName: string, b: tf.Tensor): void => {
  if (a.shape[0] !== b.shape[0] || a.shape[1] !== b.shape[1]) {
    throw new InvalidArgumentError(bName, `shape ${shapeOf(b.shape)} must equal ${aName} shape ${shapeOf(a.shape)}`)
  }
}

export const assertSameWidth = (aName: string, a: tf.Tensor, bName: string, b: tf.Tensor): void => {
  if (a.shape[1] !== b.shape[1]) {
    throw new InvalidArgumentError(
      bName,
      `rows must have the same width as ${aName}: ${bName} ${shapeOf(b.shape)} vs ${aName} ${shapeOf(a.shape)}`
    )
  }
}

/** A finite number > 0. */
export const positiveNumber = (name: string, value: unknown, fallback: number): number => {
  if (value === undefined) return fallback
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(name, `must be a finite number > 0, got ${describe(value)}`)
  }
  return value
}
