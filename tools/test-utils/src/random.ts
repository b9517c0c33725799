/**
 * Seeded random numbers for tests, computed in plain JavaScript so the values do not depend on the
 * tfjs backend under test.
 *
 * The generator is SplitMix64 reduced to 53-bit doubles; normals use Box–Muller. Same seed, same
 * sequence, on every machine.
 */
import * as tf from "@tensorflow/tfjs-core"

export interface SeededRandom {
  /** Uniform double in [0, 1). */
  readonly uniform: () => number
  /** Standard normal double. */
  readonly normal: () => number
}

const MASK64 = (1n << 64n) - 1n

export const seededRandom = (seed: number): SeededRandom => {
  if (!Number.isSafeInteger(seed)) {
    throw new TypeError(`seed must be a safe integer, got ${seed}`)
  }
  let state = BigInt.asUintN(64, BigInt(seed))
  const next64 = (): bigint => {
    state = (state + 0x9e3779b97f4a7c15n) & MASK64
    let z = state
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64
    return z ^ (z >> 31n)
  }
  const uniform = (): number => Number(next64() >> 11n) / 2 ** 53
  let spare: number | undefined
  const normal = (): number => {
    if (spare !== undefined) {
      const s = spare
      spare = undefined
      return s
    }
    let u = 0
    while (u === 0) u = uniform()
    const v = uniform()
    const r = Math.sqrt(-2 * Math.log(u))
    spare = r * Math.sin(2 * Math.PI * v)
    return r * Math.cos(2 * Math.PI * v)
  }
  return { uniform, normal }
}

const sizeOf = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1)

/** A Float32Array of standard normals (times `std`, plus `mean`). */
export const normalArray = (size: number, seed: number, options: { mean?: number; std?: number } = {}): Float32Array => {
  const { mean = 0, std = 1 } = options
  const rng = seededRandom(seed)
  const out = new Float32Array(size)
  for (let i = 0; i < size; i++) out[i] = mean + std * rng.normal()
  return out
}

/** A Float32Array of uniforms in [min, max). */
export const uniformArray = (size: number, seed: number, options: { min?: number; max?: number } = {}): Float32Array => {
  const { min = 0, max = 1 } = options
  const rng = seededRandom(seed)
  const out = new Float32Array(size)
  for (let i = 0; i < size; i++) out[i] = min + (max - min) * rng.uniform()
  return out
}

/** A float32 tensor of normals, seeded, identical on every backend. */
export const randomNormal = (
  shape: ReadonlyArray<number>,
  seed: number,
  options: { mean?: number; std?: number } = {}
): tf.Tensor => tf.tensor(normalArray(sizeOf(shape), seed, options), [...shape], "float32")

/** A float32 tensor of uniforms, seeded, identical on every backend. */
export const randomUniform = (
  shape: ReadonlyArray<number>,
  seed: number,
  options: { min?: number; max?: number } = {}
): tf.Tensor => tf.tensor(uniformArray(sizeOf(shape), seed, options), [...shape], "float32")

/**
 * A trainable `tf.Variable` holding the given tensor's values; the tensor itself is disposed (a plain
 * `tf.variable(t)` leaves `t` alive as a second tensor).
 */
export const asVariable = (initial: tf.Tensor, name?: string): tf.Variable => {
  const v = tf.variable(initial, true, name)
  initial.dispose()
  return v
}
