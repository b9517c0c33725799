import { describe, expect, it } from "vitest"
import { labelSubset } from "../src/index.ts"

/** 3 classes of 200, 100 and 7 images, interleaved, and a few unlabeled (−1) entries. */
const labels = [...Array.from({ length: 200 }, () => 0), ...Array.from({ length: 100 }, () => 1), ...Array.from({ length: 7 }, () => 2), -1, -1].map(
  (_l, i, all) => all[(i * 37) % all.length]!
)

const countOf = (subset: Array<number>) => [0, 1, 2].map((c) => subset.filter((i) => labels[i] === c).length)

describe("labelSubset", () => {
  it("takes round(fraction × class size) of every class, at least one, never unlabeled entries", () => {
    // 37 is coprime with 309, so the interleaving is a permutation and the class sizes stay 200/100/7.
    expect([0, 1, 2, -1].map((c) => labels.filter((l) => l === c).length)).toEqual([200, 100, 7, 2])
    const onePercent = labelSubset(labels, { fraction: 0.01, seed: 1 })
    expect(countOf(onePercent)).toEqual([2, 1, 1])
    const tenPercent = labelSubset(labels, { fraction: 0.1, seed: 1 })
    expect(countOf(tenPercent)).toEqual([20, 10, 1])
    expect(tenPercent.every((i) => labels[i]! >= 0)).toBe(true)
    expect(tenPercent).toEqual(tenPercent.toSorted((a, b) => a - b))
    expect(new Set(tenPercent).size).toBe(tenPercent.length)
  })

  it("is seeded, nested (1 % ⊂ 10 % for one seed), and perClass caps at the class size", () => {
    const a = labelSubset(labels, { fraction: 0.1, seed: 5 })
    expect(labelSubset(labels, { fraction: 0.1, seed: 5 })).toEqual(a)
    expect(labelSubset(labels, { fraction: 0.1, seed: 6 })).not.toEqual(a)
    const small = labelSubset(labels, { fraction: 0.01, seed: 5 })
    expect(small.every((i) => a.includes(i))).toBe(true)
    expect(countOf(labelSubset(labels, { perClass: 10, seed: 0 }))).toEqual([10, 10, 7])
  })

  it("names bad options", () => {
    expect(() => labelSubset(labels, { fraction: 0 })).toThrow(/^fraction: got 0; allowed: a number in \(0, 1\]/)
    expect(() => labelSubset(labels, { perClass: 2.5 })).toThrow(/^perClass:/)
    expect(() => labelSubset(labels, {})).toThrow(/exactly one of fraction and perClass/)
  })
})
