/**
 * The seeded generator behind every random augmentation: xoshiro128** (32-bit state words, exact in
 * JavaScript's integer arithmetic) seeded through SplitMix32 from (seed, stream). The draws happen in
 * JavaScript, not in tensors, so the same seed gives the same parameters on every backend.
 */
export class Random {
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  constructor(seed: number, stream = 0) {
    // Fold a 53-bit seed and the stream number into SplitMix32's state.
    let x = (Math.floor(seed / 2 ** 32) ^ Math.imul(stream, 0x9e3779b9) ^ (seed >>> 0)) >>> 0
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0
      let z = x
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      return (z ^ (z >>> 16)) >>> 0
    }
    this.s0 = next()
    this.s1 = next() ^ (seed >>> 0)
    this.s2 = next() ^ Math.floor(seed / 2 ** 32)
    this.s3 = next() ^ stream
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1
  }

  /** Uniform unsigned 32-bit integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0
    const t = this.s1 << 9
    this.s2 ^= this.s0
    this.s3 ^= this.s1
    this.s1 ^= this.s2
    this.s0 ^= this.s3
    this.s2 ^= t
    this.s3 = rotl(this.s3, 11)
    return result
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5
    const lo = this.nextUint32() >>> 6
    return (hi * 67108864 + lo) / 9007199254740992
  }

  /** Uniform in [min, max). */
  between(min: number, max: number): number {
    return min + (max - min) * this.uniform()
  }

  /** Uniform integer in [0, n), n ≥ 1, without modulo bias. */
  int(n: number): number {
    if (n <= 1) return 0
    const limit = Math.floor(4294967296 / n) * n
    let r = this.nextUint32()
    while (r >= limit) r = this.nextUint32()
    return r % n
  }

  /** true with probability p. */
  bernoulli(p: number): boolean {
    return this.uniform() < p
  }

  /** A uniformly random permutation of 0..n−1 (Fisher–Yates). */
  permutation(n: number): Array<number> {
    const out = Array.from({ length: n }, (_v, i) => i)
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const tmp = out[i]!
      out[i] = out[j]!
      out[j] = tmp
    }
    return out
  }
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0
