import { describe, expect, it } from "vitest"
import { momentumSchedule } from "../src/index.ts"

/** BYOL's schedule written another way: 1 − (1 − m₀)·(cos(πk/K) + 1)/2 = 1 − (1 − m₀)·cos²(πk/2K). */
const reference = (m0: number, k: number, total: number): number => 1 - (1 - m0) * Math.cos((Math.PI * Math.min(k, total)) / (2 * total)) ** 2

describe("momentumSchedule", () => {
  it("constant: m₀ at every step", () => {
    const m = momentumSchedule({ momentum: 0.99 })
    expect([0, 1, 10, 1e6, 0.5].map(m)).toEqual([0.99, 0.99, 0.99, 0.99, 0.99])
    expect(momentumSchedule({ momentum: 0.996, schedule: "constant", totalSteps: 10 })(50)).toBe(0.996)
  })

  it("cosine: BYOL's increase from m₀ at k = 0 to 1 at k = K, clamped after K (against cos² in float64)", () => {
    for (const [m0, total] of [[0.99, 1000], [0.996, 7], [0, 4], [1, 3], [0.5, 1]] as const) {
      const m = momentumSchedule({ momentum: m0, schedule: "cosine", totalSteps: total })
      const steps = [0, 1, total / 4, total / 3, total / 2, (3 * total) / 4, total - 1, total, total + 5, 10 * total].filter((k) => k >= 0)
      for (const k of steps) {
        // Two float64 formulas of a value in [0, 1]: they agree to a few ulps.
        expect(Math.abs(m(k) - reference(m0, k, total))).toBeLessThan(4e-16)
      }
      expect(m(0)).toBe(m0)
      expect(m(total)).toBe(1)
      expect(m(total * 3)).toBe(1)
      expect(Math.abs(m(total / 2) - (1 + m0) / 2)).toBeLessThan(4e-16)
      // Non-decreasing.
      const grid = Array.from({ length: 101 }, (_, i) => m((i * total) / 100))
      expect(grid.every((v, i) => i === 0 || v >= grid[i - 1]!)).toBe(true)
    }
  })

  it("refuses bad options and steps, naming them", () => {
    expect(() => momentumSchedule({ momentum: 1.2 })).toThrow(/^options\.momentum: must be a number in \[0, 1\], got 1\.2/)
    expect(() => momentumSchedule({ momentum: Number.NaN })).toThrow(/^options\.momentum: must be a number in \[0, 1\], got NaN/)
    expect(() => momentumSchedule({} as never)).toThrow(/^options\.momentum: is required: a number in \[0, 1\]/)
    expect(() => momentumSchedule(undefined as never)).toThrow(/^options: is required/)
    expect(() => momentumSchedule({ momentum: 0.9, schedule: "linear" as never })).toThrow(/^options\.schedule: must be one of "constant", "cosine"; got "linear"/)
    expect(() => momentumSchedule({ momentum: 0.9, schedule: "cosine" })).toThrow(/^options\.totalSteps: is required by the cosine schedule: an integer ≥ 1, got undefined/)
    expect(() => momentumSchedule({ momentum: 0.9, schedule: "cosine", totalSteps: 0 })).toThrow(/^options\.totalSteps: must be an integer in \[1, /)
    expect(() => momentumSchedule({ momentum: 0.9, schedule: "cosine", totalSteps: 2.5 })).toThrow(/^options\.totalSteps: must be an integer in \[1, /)
    expect(() => momentumSchedule({ momentum: 0.9, steps: 10 } as never)).toThrow(/^options\.steps: unknown option; known options are "momentum", "schedule", "totalSteps"/)
    const m = momentumSchedule({ momentum: 0.9, schedule: "cosine", totalSteps: 10 })
    for (const step of [-1, Number.NaN, Number.POSITIVE_INFINITY, "3"]) expect(() => m(step as number)).toThrow(/^step: must be a finite number ≥ 0, got /)
  })
})
