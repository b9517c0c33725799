import * as tf from "@tensorflow/tfjs-core"
import { InvalidArgumentError } from "../SimclrError.ts"

export const shapeOf = (shape: ReadonlyArray<number>): string => `[${shape.join(", ")}]`

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

export const knownKeys = (name: string, options: unknown, keys: ReadonlyArray<string>): Record<string, unknown> => {
  if (options === undefined) return {}
  if (typeof options !== "object" || options === null || Array.isArray(options) || options instanceof tf.Tensor) {
    throw new InvalidArgumentError(name, `must be an options object, got ${describe(options)}`)
  }
  for (const key of Object.keys(options)) {
    if (!keys.includes(key)) {
      throw new InvalidArgumentError(`${name}.${key}`, `unknown option; known options are ${keys.map((k) => `"${k}"`).join(", ")}`)
    }
  }
  return options as Record<string, unknown>
}
