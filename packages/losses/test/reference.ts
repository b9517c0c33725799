/**
 * Float64 reference formulas in plain JavaScript, written independently of the package (per-anchor
 * loops over the paper's 2N × 2N formulation, no tfjs), used to check values and, by central finite
 * differences, gradients.
 */
export type Matrix = Array<Array<number>>

export const toMatrix = (values: ArrayLike<number>, rows: number, cols: number): Matrix =>
  Array.from({ length: rows }, (_row, i) => Array.from({ length: cols }, (_col, j) => values[i * cols + j]!))

const dot = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => a.reduce((s, v, i) => s + v * b[i]!, 0)

const normalizeRow = (row: ReadonlyArray<number>): Array<number> => {
  const scale = 1 / Math.sqrt(Math.max(dot(row, row), 1e-12))
  return row.map((v) => v * scale)
}

const logSumExp = (xs: ReadonlyArray<number>): number => {
  const m = Math.max(...xs)
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0))
}

export interface NtXentRefOptions {
  readonly temperature: number
  readonly normalize: boolean
  readonly reduction: "mean" | "official"
  readonly negatives?: Matrix | undefined
}

/** Paper, Algorithm 1: ℓ(i, j) = −log(exp(s_ij/τ) / Σ_{k≠i} exp(s_ik/τ)), mean over the 2N anchors. */
export const ntXentRef = (z1: Matrix, z2: Matrix, o: NtXentRefOptions): number => {
  const n = z1.length
  const prep = (m: Matrix) => (o.normalize ? m.map(normalizeRow) : m)
  const z = [...prep(z1), ...prep(z2)]
  const q = o.negatives ? prep(o.negatives) : []
  let total = 0
  for (let i = 0; i < 2 * n; i++) {
    const positive = (i + n) % (2 * n)
    const terms: Array<number> = []
    for (let k = 0; k < 2 * n; k++) if (k !== i) terms.push(dot(z[i]!, z[k]!) / o.temperature)
    for (const row of q) terms.push(dot(z[i]!, row) / o.temperature)
    total += logSumExp(terms) - dot(z[i]!, z[positive]!) / o.temperature
  }
  const mean = total / (2 * n)
  return o.reduction === "official" ? 2 * mean : mean
}

/** Official contrastive metrics on logits_ab = ẑ1·ẑ2ᵀ/τ. */
export const ntXentMetricsRef = (z1: Matrix, z2: Matrix, o: { temperature: number; normalize: boolean }) => {
  const prep = (m: Matrix) => (o.normalize ? m.map(normalizeRow) : m)
  const a = prep(z1)
  const b = prep(z2)
  let correct = 0
  let entropy = 0
  for (let i = 0; i < a.length; i++) {
    const logits = b.map((row) => dot(a[i]!, row) / o.temperature)
    const best = logits.indexOf(Math.max(...logits))
    if (best === i) correct++
    const lse = logSumExp(logits)
    entropy -= logits.reduce((s, l) => {
      const p = Math.exp(l - lse)
      return s + p * Math.log(p + 1e-8)
    }, 0)
  }
  return { accuracy: correct / a.length, entropy: entropy / a.length }
}

/** MoCo InfoNCE: CE of index 0 over [q·k⁺, q·negativesᵀ]/τ, mean over N. */
export const infoNceRef = (
  query: Matrix,
  key: Matrix,
  negatives: Matrix,
  o: { temperature: number; normalize: boolean }
): number => {
  const prep = (m: Matrix) => (o.normalize ? m.map(normalizeRow) : m)
  const q = prep(query)
  const k = prep(key)
  const neg = prep(negatives)
  let total = 0
  for (let i = 0; i < q.length; i++) {
    const pos = dot(q[i]!, k[i]!) / o.temperature
    total += logSumExp([pos, ...neg.map((row) => dot(q[i]!, row) / o.temperature)]) - pos
  }
  return total / q.length
}

/** −mean_b Σ_c softmax(t/T)·log softmax(s/T), × T² when scaled. */
export const distillationRef = (
  student: Matrix,
  teacher: Matrix,
  o: { temperature: number; scaleByTemperatureSquared: boolean }
): number => {
  let total = 0
  for (let b = 0; b < student.length; b++) {
    const s = student[b]!.map((v) => v / o.temperature)
    const t = teacher[b]!.map((v) => v / o.temperature)
    const lseS = logSumExp(s)
    const lseT = logSumExp(t)
    total -= t.reduce((acc, tv, c) => acc + Math.exp(tv - lseT) * (s[c]! - lseS), 0)
  }
  const mean = total / student.length
  return o.scaleByTemperatureSquared ? mean * o.temperature * o.temperature : mean
}

/** Central finite-difference gradient of a float64 function of one matrix argument. */
export const finiteDifference = (f: (m: Matrix) => number, at: Matrix, h = 1e-6): Matrix =>
  at.map((row, i) =>
    row.map((_, j) => {
      const plus = at.map((r) => [...r])
      const minus = at.map((r) => [...r])
      plus[i]![j]! += h
      minus[i]![j]! -= h
      return (f(plus) - f(minus)) / (2 * h)
    })
  )

/**
 * NT-Xent (normalize, mean over 2N) at large N in float64 typed arrays, with the analytic gradient of
 * chosen rows: for unit rows u, P_ab = exp(s_ab/τ − lse_a),
 * ∂L/∂u_k = (Σ_{b≠k} P_kb u_b + Σ_{a≠k} P_ak u_a − 2·u_pos(k)) / (2Nτ), then ∂L/∂z_k = (g − u_k(u_k·g)) / ‖z_k‖.
 */
export const ntXentLargeRef = (z1: Float32Array, z2: Float32Array, n: number, d: number, temperature: number) => {
  const rows = 2 * n
  const u = new Float64Array(rows * d)
  const norms = new Float64Array(rows)
  for (let a = 0; a < rows; a++) {
    const src = a < n ? z1 : z2
    const off = (a % n) * d
    let ss = 0
    for (let c = 0; c < d; c++) ss += src[off + c]! * src[off + c]!
    norms[a] = Math.sqrt(Math.max(ss, 1e-12))
    for (let c = 0; c < d; c++) u[a * d + c] = src[off + c]! / norms[a]!
  }
  const similarity = (a: number, b: number) => {
    let s = 0
    for (let c = 0; c < d; c++) s += u[a * d + c]! * u[b * d + c]!
    return s
  }
  const positive = (a: number) => (a + n) % rows
  const lse = new Float64Array(rows)
  const row = new Float64Array(rows)
  let total = 0
  for (let a = 0; a < rows; a++) {
    let max = -Infinity
    for (let b = 0; b < rows; b++) {
      row[b] = b === a ? -Infinity : similarity(a, b) / temperature
      if (row[b]! > max) max = row[b]!
    }
    let sum = 0
    for (let b = 0; b < rows; b++) sum += Math.exp(row[b]! - max)
    lse[a] = max + Math.log(sum)
    total += lse[a]! - row[positive(a)]!
  }
  const gradRow = (k: number): Float64Array => {
    const g = new Float64Array(d)
    for (let b = 0; b < rows; b++) {
      if (b === k) continue
      const s = similarity(k, b) / temperature
      const weight = Math.exp(s - lse[k]!) + Math.exp(s - lse[b]!) - (b === positive(k) ? 2 : 0)
      for (let c = 0; c < d; c++) g[c] = g[c]! + (weight * u[b * d + c]!) / (rows * temperature)
    }
    let along = 0
    for (let c = 0; c < d; c++) along += g[c]! * u[k * d + c]!
    return g.map((v, c) => (v - along * u[k * d + c]!) / norms[k]!)
  }
  return { loss: total / rows, gradRow }
}
