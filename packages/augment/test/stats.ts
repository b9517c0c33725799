/**
 * Statistical checks shared by the augmentation tests. Bounds are chosen so a correct draw fails with
 * negligible probability: Kolmogorov–Smirnov at α ≈ 1e-6 (critical value ≈ 2.65/√n) and 5 σ for a
 * binomial proportion.
 */
import { expect } from "vitest"

/** Kolmogorov–Smirnov statistic of samples against a CDF. */
export const ksStatistic = (samples: ReadonlyArray<number>, cdf: (x: number) => number): number => {
  const sorted = samples.toSorted((a, b) => a - b)
  let d = 0
  sorted.forEach((x, i) => {
    const f = cdf(x)
    d = Math.max(d, Math.abs(f - i / sorted.length), Math.abs(f - (i + 1) / sorted.length))
  })
  return d
}

/** The CDF of the uniform law on [lo, hi]. */
export const uniformCdf = (lo: number, hi: number) => (x: number): number => Math.min(Math.max((x - lo) / (hi - lo), 0), 1)

/** Kolmogorov–Smirnov statistic of samples against the uniform law on [lo, hi]. */
export const ksUniform = (samples: ReadonlyArray<number>, lo: number, hi: number): number => ksStatistic(samples, uniformCdf(lo, hi))

/** The KS critical value at α ≈ 1e-6 for n samples. */
export const ksBound = (n: number): number => 2.65 / Math.sqrt(n)

/** 5-σ bound for a binomial proportion. */
export const expectProportion = (hits: number, n: number, p: number): void => {
  expect(Math.abs(hits / n - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n))
}
