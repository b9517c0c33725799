/**
 * The seeded generator against an independent implementation: xoshiro128** and SplitMix32 written here
 * with BigInt arithmetic from their published definitions (Blackman & Vigna; Steele et al.), not with
 * the 32-bit integer tricks of the package's version.
 */
import { expect, it } from "vitest"
import { Random } from "../src/index.ts"

const M32 = (1n << 32n) - 1n
const rotl = (x: bigint, k: bigint): bigint => ((x << k) | (x >> (32n - k))) & M32
const mul = (a: bigint, b: bigint): bigint => (a * b) & M32

/** The reference: SplitMix32 (golden-ratio increment, murmur3-style finaliser) seeding xoshiro128**. */
class Reference {
  s: [bigint, bigint, bigint, bigint]
  constructor(seed: number, stream: number) {
    const lo = BigInt(seed >>> 0)
    const hi = BigInt(Math.floor(seed / 2 ** 32)) & M32
    let x = (hi ^ mul(BigInt(stream), 0x9e3779b9n) ^ lo) & M32
    const next = (): bigint => {
      x = (x + 0x9e3779b9n) & M32
      let z = x
      z = mul(z ^ (z >> 16n), 0x85ebca6bn)
      z = mul(z ^ (z >> 13n), 0xc2b2ae35n)
      return z ^ (z >> 16n)
    }
    this.s = [next(), next() ^ lo, next() ^ hi, next() ^ BigInt(stream)]
    if (this.s.every((w) => w === 0n)) this.s[0] = 1n
  }
  next(): bigint {
    const [s0, s1, s2, s3] = this.s
    const result = mul(rotl(mul(s1, 5n), 7n), 9n)
    const t = (s1 << 9n) & M32
    let [a, b, c, d] = [s0, s1, s2 ^ s0, s3 ^ s1]
    b ^= c
    a ^= d
    c ^= t
    d = rotl(d, 11n)
    this.s = [a, b, c, d]
    return result
  }
}

it("draws the same 32-bit words as an independent BigInt xoshiro128** seeded by SplitMix32", () => {
  for (const [seed, stream] of [[0, 0], [1, 0], [42, 7], [2 ** 40 + 12345, 3], [Number.MAX_SAFE_INTEGER, 2 ** 31 - 1]] as const) {
    const ours = new Random(seed, stream)
    const ref = new Reference(seed, stream)
    for (let i = 0; i < 1000; i++) expect(ours.nextUint32()).toBe(Number(ref.next()))
  }
})

it("uniform() is the 53-bit double (hi >>> 5)·2²⁶ + (lo >>> 6) over 2⁵³ of two consecutive words, in [0, 1)", () => {
  const ours = new Random(9, 1)
  const ref = new Reference(9, 1)
  for (let i = 0; i < 1000; i++) {
    const hi = Number(ref.next()) >>> 5
    const lo = Number(ref.next()) >>> 6
    const u = ours.uniform()
    expect(u).toBe((hi * 2 ** 26 + lo) / 2 ** 53)
    expect(u >= 0 && u < 1).toBe(true)
  }
})

it("int(n) is unbiased (rejection) and in range; permutation is a permutation; bernoulli follows p", () => {
  const r = new Random(5)
  const counts = Array.from({ length: 6 }, () => 0)
  for (let i = 0; i < 60_000; i++) counts[r.int(6)]! += 1
  // Each count ~ Binomial(60000, 1/6): σ ≈ 91; 5σ bounds.
  for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(460)
  expect(r.int(1)).toBe(0)
  const p = r.permutation(50)
  expect(p.toSorted((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_v, i) => i))
  let heads = 0
  for (let i = 0; i < 20_000; i++) heads += r.bernoulli(0.3) ? 1 : 0
  // Binomial(20000, 0.3): σ ≈ 65; 5σ.
  expect(Math.abs(heads - 6000)).toBeLessThan(325)
  // The same seed and stream give the same draws; another stream others.
  expect(new Random(5, 1).permutation(20)).toEqual(new Random(5, 1).permutation(20))
  expect(new Random(5, 1).permutation(20)).not.toEqual(new Random(5, 2).permutation(20))
})
