import * as tf from "@tensorflow/tfjs-core"
import { InvalidArgumentError } from "../SimclrError.ts"

export const shapeOf = (t: tf.Tensor): string => `[${t.shape.join(", ")}]`

/** A short, never-throwing rendering of a bad value for an error message. */
const describe = (value: unknown): string => {
  if (typeof value === "string") return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`
  if (value instanceof tf.Tensor) return `a tensor of shape ${shapeOf(value)}`
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
 * Asserts a float32 tensor of rank 2 with at least one row and one column (`minRows` 0 allows an empty
 * one). Narrows `value` to a `tf.Tensor2D`.
 */
export function assertMatrix(name: string, value: unknown, meaning: string, minRows = 1): asserts value is tf.Tensor2D {
  if (!(value instanceof tf.Tensor)) {
    throw new InvalidArgumentError(name, `expected a tf.Tensor of shape ${meaning}, got ${describe(value)}`)
  }
  if (value.isDisposed) throw new InvalidArgumentError(name, "the tensor is disposed")
  if (value.rank !== 2) {
    throw new InvalidArgumentError(name, `expected rank 2 ${meaning}, got rank ${value.rank} with shape ${shapeOf(value)}`)
  }
  if (value.dtype !== "float32") {
    throw new InvalidArgumentError(name, `expected dtype float32, got ${value.dtype} (shape ${shapeOf(value)})`)
  }
  const [rows, cols] = value.shape as [number, number]
  if (rows < minRows) {
    throw new InvalidArgumentError(
      name,
      minRows === 1 ? `empty batch: shape ${shapeOf(value)}` : `needs at least ${minRows} rows, got shape ${shapeOf(value)}`
    )
  }
  if (cols === 0) throw new InvalidArgumentError(name, `zero-width rows: shape ${shapeOf(value)}`)
}

export const assertSameShape = (aName: string, a: tf.Tensor, bName: string, b: tf.Tensor): void => {
  if (a.shape[0] !== b.shape[0] || a.shape[1] !== b.shape[1]) {
    throw new InvalidArgumentError(bName, `shape ${shapeOf(b)} must equal ${aName} shape ${shapeOf(a)}`)
  }
}

export const assertSameWidth = (aName: string, a: tf.Tensor, bName: string, b: tf.Tensor): void => {
  if (a.shape[1] !== b.shape[1]) {
    throw new InvalidArgumentError(
      bName,
      `rows must have the same width as ${aName}: ${bName} ${shapeOf(b)} vs ${aName} ${shapeOf(a)}`
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

export const booleanOption = (name: string, value: unknown, fallback: boolean): boolean => {
  if (value === undefined) return fallback
  if (typeof value !== "boolean") throw new InvalidArgumentError(name, `must be true or false, got ${describe(value)}`)
  return value
}

export const oneOf = <const A extends string>(name: string, value: unknown, allowed: ReadonlyArray<A>, fallback: A): A => {
  if (value === undefined) return fallback
  if (typeof value !== "string" || !(allowed as ReadonlyArray<string>).includes(value)) {
    throw new InvalidArgumentError(
      name,
      `must be one of ${allowed.map((a) => `"${a}"`).join(", ")}; got ${describe(value)}`
    )
  }
  return value as A
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
