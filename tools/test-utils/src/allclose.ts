/**
 * `allclose` in numpy's sense: |actual − expected| ≤ atol + rtol·|expected|, element-wise, with
 * shapes compared when both sides carry one. NaN never equals NaN unless `equalNaN`.
 */
import * as tf from "@tensorflow/tfjs-core"

export type Numeric = tf.Tensor | ArrayLike<number> | ReadonlyArray<ReadonlyArray<number>> | number

export interface AllcloseOptions {
  /** Relative tolerance. Default 1e-5 (float32). */
  readonly rtol?: number
  /** Absolute tolerance. Default 1e-8. */
  readonly atol?: number
  readonly equalNaN?: boolean
}

export interface AllcloseResult {
  readonly pass: boolean
  readonly message: string
}

interface Flat {
  readonly values: ArrayLike<number>
  readonly shape: ReadonlyArray<number> | undefined
}

const flatten = (x: Numeric): Flat => {
  if (x instanceof tf.Tensor) return { values: x.dataSync() as ArrayLike<number>, shape: x.shape }
  if (typeof x === "number") return { values: [x], shape: undefined }
  const first = (x as ArrayLike<unknown>)[0]
  if (Array.isArray(first) || ArrayBuffer.isView(first)) {
    const rows = x as ReadonlyArray<ArrayLike<number>>
    const out: Array<number> = []
    for (const row of rows) for (let i = 0; i < row.length; i++) out.push(row[i]!)
    return { values: out, shape: [rows.length, rows[0]!.length] }
  }
  return { values: x as ArrayLike<number>, shape: undefined }
}

export const allclose = (actual: Numeric, expected: Numeric, options: AllcloseOptions = {}): AllcloseResult => {
  const { rtol = 1e-5, atol = 1e-8, equalNaN = false } = options
  const a = flatten(actual)
  const e = flatten(expected)
  if (a.shape !== undefined && e.shape !== undefined && a.shape.join(",") !== e.shape.join(",")) {
    return { pass: false, message: `shape [${a.shape.join(",")}] differs from expected [${e.shape.join(",")}]` }
  }
  if (a.values.length !== e.values.length) {
    return { pass: false, message: `size ${a.values.length} differs from expected ${e.values.length}` }
  }
  let worst = -1
  let worstExcess = -Infinity
  let failures = 0
  let maxAbs = 0
  let maxRel = 0
  for (let i = 0; i < a.values.length; i++) {
    const av = a.values[i]!
    const ev = e.values[i]!
    if (Number.isNaN(av) || Number.isNaN(ev)) {
      if (equalNaN && Number.isNaN(av) && Number.isNaN(ev)) continue
      failures++
      if (worstExcess < Infinity) {
        worst = i
        worstExcess = Infinity
      }
      continue
    }
    const diff = Math.abs(av - ev)
    if (av === ev) continue
    const bound = atol + rtol * Math.abs(ev)
    maxAbs = Math.max(maxAbs, diff)
    if (ev !== 0) maxRel = Math.max(maxRel, diff / Math.abs(ev))
    if (!(diff <= bound)) {
      failures++
      const excess = diff - bound
      if (excess > worstExcess) {
        worst = i
        worstExcess = excess
      }
    }
  }
  const stats = `max abs diff ${maxAbs.toExponential(3)}, max rel diff ${maxRel.toExponential(3)} (rtol ${rtol}, atol ${atol})`
  if (failures === 0) return { pass: true, message: `all ${a.values.length} values close: ${stats}` }
  return {
    pass: false,
    message: `${failures} of ${a.values.length} values differ; worst at flat index ${worst}: ` +
      `actual ${a.values[worst]} vs expected ${e.values[worst]}; ${stats}`
  }
}

/** Throws with a readable message unless `allclose(actual, expected, options)`. */
export const expectAllclose = (actual: Numeric, expected: Numeric, options: AllcloseOptions = {}): void => {
  const result = allclose(actual, expected, options)
  if (!result.pass) throw new Error(`expected values to be close: ${result.message}`)
}
