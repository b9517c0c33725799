/**
 * Float64 references written for the tests in plain JavaScript numbers (no tfjs), from the formulas
 * in the package's documentation, and the float32 rounding bounds the tests allow around them.
 */

/** The float32 unit roundoff, 2⁻²⁴. */
export const U = 2 ** -24

export type Matrix = Array<Array<number>>

export const logSoftmax64 = (row: ReadonlyArray<number>, temperature: number): Array<number> => {
  const z = row.map((v) => v / temperature)
  const max = Math.max(...z)
  const lse = max + Math.log(z.reduce((a, v) => a + Math.exp(v - max), 0))
  return z.map((v) => v - lse)
}

export const softmax64 = (row: ReadonlyArray<number>, temperature: number): Array<number> => logSoftmax64(row, temperature).map(Math.exp)

export interface LossOptions64 {
  readonly temperature: number
  readonly alpha?: number
  readonly labels?: ReadonlyArray<number>
  readonly confidenceThreshold?: number
  readonly scaleByTemperatureSquared?: boolean
}

/** Row weights of the two terms: distillation (kept rows) and cross-entropy (labeled rows). */
export const weights64 = (p: Matrix, o: LossOptions64): { distill: Array<number>; ce: Array<number>; kept: number; labeled: number } => {
  const alpha = o.alpha ?? 0
  const threshold = o.confidenceThreshold ?? 0
  const f = o.scaleByTemperatureSquared === true ? o.temperature ** 2 : 1
  const keptRows = p.map((row) => Math.max(...row) >= threshold)
  const kept = keptRows.filter(Boolean).length
  const labels = o.labels ?? p.map(() => -1)
  const labeled = labels.filter((y) => y >= 0).length
  return {
    distill: keptRows.map((k) => (k && kept > 0 ? ((1 - alpha) * f) / kept : 0)),
    ce: labels.map((y) => (y >= 0 && labeled > 0 ? alpha / labeled : 0)),
    kept,
    labeled
  }
}

/** (1 − α)·f·(1/K)Σ_kept −Σ_y p log softmax(s/τ) + α·(1/L)Σ_labeled −log softmax(s)_y; empty terms are 0. */
export const distillLoss64 = (s: Matrix, p: Matrix, o: LossOptions64): number => {
  const w = weights64(p, o)
  let loss = 0
  s.forEach((row, i) => {
    const lq = logSoftmax64(row, o.temperature)
    loss += w.distill[i]! * -p[i]!.reduce((a, pv, y) => a + pv * lq[y]!, 0)
    const label = o.labels?.[i] ?? -1
    if (label >= 0) loss += w.ce[i]! * -logSoftmax64(row, 1)[label]!
  })
  return loss
}

/** The analytic gradient of distillLoss64 with respect to s. */
export const distillGrad64 = (s: Matrix, p: Matrix, o: LossOptions64): Matrix => {
  const w = weights64(p, o)
  return s.map((row, i) => {
    const q = softmax64(row, o.temperature)
    const total = p[i]!.reduce((a, v) => a + v, 0)
    const q1 = softmax64(row, 1)
    const label = o.labels?.[i] ?? -1
    return row.map((_v, y) => (w.distill[i]! * (q[y]! * total - p[i]![y]!)) / o.temperature + w.ce[i]! * (q1[y]! - (y === label ? 1 : 0)))
  })
}

/** Central finite differences of `f` at `s` in float64 (step h): checks the analytic reference itself. */
export const finiteDifferences64 = (f: (s: Matrix) => number, s: Matrix, h = 1e-5): Matrix =>
  s.map((row, i) =>
    row.map((_v, y) => {
      const at = (d: number) => f(s.map((r, k) => (k === i ? r.map((v, c) => (c === y ? v + d : v)) : r)))
      return (at(h) - at(-h)) / (2 * h)
    })
  )

/**
 * Worst float32 error of one log-softmax entry computed as tfjs does (divide by τ, subtract the max,
 * exp, sum of C terms, log): about u·(|z_y| + |lse|) for the subtraction and the division, plus
 * (C + 4)·u for the sum of exponentials and the log.
 */
const logSoftmaxError = (row: ReadonlyArray<number>, temperature: number): number => {
  const z = row.map((v) => Math.abs(v / temperature))
  const lq = logSoftmax64(row, temperature)
  const lse = Math.max(...row.map((v, y) => Math.abs(v / temperature - lq[y]!)))
  return U * (2 * Math.max(...z) + 2 * lse + row.length + 4)
}

/**
 * A float32 rounding bound for distillLoss: each of the B·C products t·log q carries the error of its
 * log-softmax entry plus (B + C + 4) ulps of its own size for the products, the weights and the sums
 * over classes and rows. Doubled, because these are first-order bounds.
 */
export const lossBound = (s: Matrix, p: Matrix, o: LossOptions64): number => {
  const w = weights64(p, o)
  const [b, c] = [s.length, s[0]!.length]
  let bound = 0
  s.forEach((row, i) => {
    const terms: Array<[number, number, ReadonlyArray<number>]> = [[w.distill[i]!, o.temperature, p[i]!]]
    const label = o.labels?.[i] ?? -1
    if (label >= 0) terms.push([w.ce[i]!, 1, row.map((_v, y) => (y === label ? 1 : 0))])
    for (const [weight, tau, t] of terms) {
      if (weight === 0) continue
      const lq = logSoftmax64(row, tau)
      const e = logSoftmaxError(row, tau)
      bound += weight * t.reduce((a, tv, y) => a + tv * (e + (b + c + 4) * U * Math.abs(lq[y]!)), 0)
    }
  })
  return 2 * bound
}

/**
 * A float32 rounding bound for one gradient entry w·(q·Σt − t)/τ: q = exp(log q) carries the
 * log-softmax error plus an ulp, Σt has C ulps, and the weight, the subtraction, the division and the
 * sum of the two terms add about 6 ulps of the result. Doubled, as above.
 */
export const gradBound = (s: Matrix, p: Matrix, o: LossOptions64): Matrix => {
  const w = weights64(p, o)
  const c = s[0]!.length
  return s.map((row, i) => {
    const label = o.labels?.[i] ?? -1
    const parts: Array<[number, number, ReadonlyArray<number>]> = [[w.distill[i]!, o.temperature, p[i]!]]
    if (label >= 0) parts.push([w.ce[i]!, 1, row.map((_v, y) => (y === label ? 1 : 0))])
    return row.map((_v, y) => {
      let bound = 0
      for (const [weight, tau, t] of parts) {
        if (weight === 0) continue
        const q = softmax64(row, tau)[y]!
        const total = t.reduce((a, v) => a + v, 0)
        const e = logSoftmaxError(row, tau)
        bound += (weight / tau) * (q * total * (e + (c + 2) * U) + 6 * U * (Math.abs(q * total - t[y]!) + q * total))
      }
      return 2 * bound
    })
  })
}
