import * as tf from "@tensorflow/tfjs-core"
import { asVariable, expectNoLeaks, normalArray, randomNormal, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { InvalidArgumentError, ntXent, type NtXentOptions, SimclrError } from "../src/index.ts"
import { finiteDifference, type Matrix, ntXentLargeRef, ntXentRef, toMatrix } from "./reference.ts"

const matrix = (t: tf.Tensor): Matrix => toMatrix(t.dataSync(), t.shape[0]!, t.shape[1]!)
/** Reads a scalar and disposes it. */
const scalar = (t: tf.Tensor): number => {
  const v = t.dataSync()[0]!
  t.dispose()
  return v
}
const lossOf = (z1: tf.Tensor2D, z2: tf.Tensor2D, options?: NtXentOptions): number =>
  tf.tidy(() => scalar(ntXent(z1, z2, options)))

const l2normalize = (x: tf.Tensor2D) => tf.div(x, tf.sqrt(tf.maximum(tf.sum(tf.square(x), 1, true), 1e-12)))

/** 1e-5 of the largest entry: the scale of a gradient, for its near-zero entries. */
const atol = (fd: Matrix): number => 1e-5 * Math.max(...fd.flat().map(Math.abs))

const gradsOf = (z1: tf.Tensor2D, z2: tf.Tensor2D, options: NtXentOptions) => {
  const [g1, g2] = tf.grads((a: tf.Tensor, b: tf.Tensor) => ntXent(a as tf.Tensor2D, b as tf.Tensor2D, options))([z1, z2])
  const out = [matrix(g1!), matrix(g2!)] as const
  tf.dispose([g1, g2])
  return out
}

/** The official block formulation (tf2/objective.py), written with tfjs ops. */
const officialBlockLoss = (z1: tf.Tensor2D, z2: tf.Tensor2D, temperature: number): tf.Scalar =>
  tf.tidy(() => {
    const n = z1.shape[0]
    const [h1, h2] = [l2normalize(z1), l2normalize(z2)]
    const labels = tf.oneHot(tf.range(0, n, 1, "int32"), 2 * n)
    const masks = tf.oneHot(tf.range(0, n, 1, "int32"), n)
    const aa = tf.sub(tf.div(tf.matMul(h1, h1, false, true), temperature), tf.mul(masks, 1e9))
    const bb = tf.sub(tf.div(tf.matMul(h2, h2, false, true), temperature), tf.mul(masks, 1e9))
    const ab = tf.div(tf.matMul(h1, h2, false, true), temperature)
    const ba = tf.div(tf.matMul(h2, h1, false, true), temperature)
    const ce = (logits: tf.Tensor) => tf.neg(tf.sum(tf.mul(labels, tf.logSoftmax(logits)), 1))
    const lossA = ce(tf.concat([ab, aa], 1))
    const lossB = ce(tf.concat([ba, bb], 1))
    return tf.mean(tf.add(lossA, lossB)) as tf.Scalar
  })

describe("ntXent values", () => {
  useLeakCheck()

  it("equals the hand-derived value for two orthogonal images with identical views", () => {
    // Z = [e1, e2, e1, e2], τ = 1: every anchor sees its positive at cosine 1 and two negatives at 0,
    // so ℓ = −log(e / (e + 2)) = log(e + 2) − 1 for all four anchors.
    const z = tf.tensor2d([[1, 0], [0, 1]])
    const expected = Math.log(Math.E + 2) - 1
    expect(lossOf(z, z, { temperature: 1 })).toBeCloseTo(expected, 6)
    expect(lossOf(z, z, { temperature: 1, reduction: "official" })).toBeCloseTo(2 * expected, 6)
    // Scaling rows changes nothing when normalising.
    const scaled = tf.mul(z, 7) as tf.Tensor2D
    expect(lossOf(scaled, z, { temperature: 1 })).toBeCloseTo(expected, 6)
    tf.dispose([z, scaled])
  })

  it("is 0 for a single pair (its only logit is the positive)", () => {
    const [a, b] = [randomNormal([1, 5], 1) as tf.Tensor2D, randomNormal([1, 5], 2) as tf.Tensor2D]
    expect(Math.abs(lossOf(a, b))).toBeLessThan(1e-6)
    tf.dispose([a, b])
  })

  for (const [n, d, temperature, normalize] of [
    [8, 16, 0.5, true],
    [13, 4, 0.1, true],
    [5, 32, 1, false],
    [32, 8, 0.07, true]
  ] as const) {
    it(`equals the float64 2N×2N reference (N=${n}, D=${d}, τ=${temperature}, normalize=${normalize}), both reductions`, () => {
      const std = normalize ? 1 : 0.3
      const [z1, z2] = [randomNormal([n, d], 10 + n, { std }), randomNormal([n, d], 20 + n, { std })] as [tf.Tensor2D, tf.Tensor2D]
      for (const reduction of ["mean", "official"] as const) {
        const expected = ntXentRef(matrix(z1), matrix(z2), { temperature, normalize, reduction })
        expect(lossOf(z1, z2, { temperature, normalize, reduction })).toBeAllclose(expected, { rtol: 1e-5, atol: 1e-6 })
      }
      tf.dispose([z1, z2])
    })
  }

  it("official reduction equals the official block formulation; mean is half of it", () => {
    const [z1, z2] = [randomNormal([16, 32], 3), randomNormal([16, 32], 4)] as [tf.Tensor2D, tf.Tensor2D]
    for (const temperature of [0.1, 0.5, 1]) {
      const block = officialBlockLoss(z1, z2, temperature)
      const official = ntXent(z1, z2, { temperature, reduction: "official" })
      const mean = ntXent(z1, z2, { temperature })
      expect(official).toBeAllclose(block, { rtol: 1e-5 })
      expect(scalar(mean) * 2).toBeAllclose(scalar(block), { rtol: 1e-5 })
      tf.dispose([block, official, mean])
    }
    tf.dispose([z1, z2])
  })

  it("is symmetric in the two views and invariant to permuting images", () => {
    const [z1, z2] = [randomNormal([6, 8], 5), randomNormal([6, 8], 6)] as [tf.Tensor2D, tf.Tensor2D]
    const perm = tf.tensor1d([3, 0, 5, 1, 4, 2], "int32")
    const [p1, p2] = [tf.gather(z1, perm), tf.gather(z2, perm)] as [tf.Tensor2D, tf.Tensor2D]
    const base = lossOf(z1, z2, { temperature: 0.2 })
    expect(lossOf(z2, z1, { temperature: 0.2 })).toBeAllclose(base, { rtol: 1e-6 })
    expect(lossOf(p1, p2, { temperature: 0.2 })).toBeAllclose(base, { rtol: 1e-6 })
    tf.dispose([z1, z2, perm, p1, p2])
  })

  it("with negatives equals the reference whose denominators include every extra row", () => {
    const [z1, z2, q] = [randomNormal([6, 8], 7), randomNormal([6, 8], 8), randomNormal([11, 8], 9, { std: 3 })] as [
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor2D
    ]
    for (const normalize of [true, false]) {
      for (const reduction of ["mean", "official"] as const) {
        const expected = ntXentRef(matrix(z1), matrix(z2), { temperature: 0.5, normalize, reduction, negatives: matrix(q) })
        expect(lossOf(z1, z2, { temperature: 0.5, normalize, reduction, negatives: q })).toBeAllclose(expected, {
          rtol: 1e-5,
          atol: 1e-6
        })
      }
    }
    // More negatives can only raise the loss; an empty queue is the same as none.
    const empty = tf.zeros([0, 8]) as tf.Tensor2D
    expect(lossOf(z1, z2, { negatives: q })).toBeGreaterThan(lossOf(z1, z2))
    expect(lossOf(z1, z2, { negatives: empty })).toBe(lossOf(z1, z2))
    tf.dispose([z1, z2, q, empty])
  })
})

describe("ntXent gradients", () => {
  useLeakCheck()

  for (const options of [
    { temperature: 0.5, normalize: true, reduction: "mean" },
    { temperature: 0.1, normalize: true, reduction: "official" },
    { temperature: 1, normalize: false, reduction: "mean" }
  ] as const) {
    for (const withNegatives of [false, true]) {
      it(`equal central finite differences of the float64 reference (${JSON.stringify(options)}, negatives: ${withNegatives})`, () => {
        const std = options.normalize ? 1 : 0.4
        const [z1, z2] = [randomNormal([5, 6], 30, { std }), randomNormal([5, 6], 31, { std })] as [tf.Tensor2D, tf.Tensor2D]
        const q = withNegatives ? (randomNormal([7, 6], 32, { std }) as tf.Tensor2D) : undefined
        const [m1, m2] = [matrix(z1), matrix(z2)]
        const refOptions = { ...options, negatives: q === undefined ? undefined : matrix(q) }
        const fd1 = finiteDifference((m) => ntXentRef(m, m2, refOptions), m1)
        const fd2 = finiteDifference((m) => ntXentRef(m1, m, refOptions), m2)
        const [g1, g2] = gradsOf(z1, z2, { ...options, negatives: q })
        expect(g1).toBeAllclose(fd1, { rtol: 1e-4, atol: atol(fd1) })
        expect(g2).toBeAllclose(fd2, { rtol: 1e-4, atol: atol(fd2) })
        tf.dispose([z1, z2, q])
      })
    }
  }

  it("agree with a directional finite difference of the tfjs forward pass itself", () => {
    // Checks that the custom gradient is the derivative of what the forward pass computes (float32, so
    // a coarse step and a loose bound: 1e-2 relative).
    const [z1, z2] = [randomNormal([6, 5], 40), randomNormal([6, 5], 41)] as [tf.Tensor2D, tf.Tensor2D]
    const [d1, d2] = [randomNormal([6, 5], 42), randomNormal([6, 5], 43)] as [tf.Tensor2D, tf.Tensor2D]
    const h = 1e-2
    const options = { temperature: 0.3 }
    const shifted = (s: number) =>
      tf.tidy(() => lossOf(tf.add(z1, tf.mul(d1, s)) as tf.Tensor2D, tf.add(z2, tf.mul(d2, s)) as tf.Tensor2D, options))
    const numeric = (shifted(h) - shifted(-h)) / (2 * h)
    const [g1, g2] = tf.grads((a: tf.Tensor, b: tf.Tensor) => ntXent(a as tf.Tensor2D, b as tf.Tensor2D, options))([z1, z2])
    const analytic = tf.tidy(() => scalar(tf.add(tf.sum(tf.mul(g1!, d1)), tf.sum(tf.mul(g2!, d2)))))
    expect(analytic).toBeAllclose(numeric, { rtol: 1e-2, atol: 1e-4 })
    tf.dispose([z1, z2, d1, d2, g1, g2])
  })

  it("do not flow into negatives", () => {
    // variableGrads returns gradients only for the variables the loss depends on through the tape.
    const [v1, v2, queue] = [asVariable(randomNormal([4, 3], 50)), asVariable(randomNormal([4, 3], 51)), asVariable(randomNormal([5, 3], 52))]
    const { value, grads } = tf.variableGrads(
      () => ntXent(v1 as tf.Tensor2D, v2 as tf.Tensor2D, { negatives: queue as tf.Tensor2D }),
      [v1, v2, queue]
    )
    expect(Object.keys(grads).toSorted()).toEqual([v1.name, v2.name].toSorted())
    tf.dispose([v1, v2, queue, value, grads])
  })

  it("are identical for the two views when the views are identical (symmetry)", () => {
    // Two distinct tensors (tf.grads would hand back one gradient object for a repeated input).
    const z = randomNormal([5, 7], 60) as tf.Tensor2D
    const copy = z.clone()
    const [g1, g2] = gradsOf(z, copy, { temperature: 0.2 })
    expect(g1).toBeAllclose(g2, { rtol: 1e-6, atol: 1e-7 })
    expect(g1.flat().some((v) => Math.abs(v) > 1e-3)).toBe(true)
    tf.dispose([z, copy])
  })

  it("scale with the upstream gradient dy", () => {
    const [z1, z2, q] = [randomNormal([4, 5], 61), randomNormal([4, 5], 62), randomNormal([3, 5], 63)] as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D]
    const dy = tf.scalar(-2.5)
    for (const options of [{ temperature: 0.3 }, { temperature: 0.3, reduction: "official", negatives: q, normalize: false }] as const) {
      const f = (a: tf.Tensor, b: tf.Tensor) => ntXent(a, b, options)
      const plain = tf.grads(f)([z1, z2])
      const scaled = tf.grads(f)([z1, z2], dy)
      for (const i of [0, 1]) {
        const expected = tf.mul(plain[i]!, -2.5)
        expect(scaled[i]!).toBeAllclose(expected, { rtol: 1e-5, atol: 1e-6 })
        expected.dispose()
      }
      tf.dispose([plain, scaled])
    }
    tf.dispose([z1, z2, q, dy])
  })

  it("equal finite differences on the clamped branch of the L2 normalisation (Σz² < 1e-12)", () => {
    // Rows of entries ~1e-7 have Σz² ~ 1e-13 < ε: the norm is clamped, ẑ = z/1e-6 is linear in z.
    const [z1, z2] = [randomNormal([3, 4], 64, { std: 1e-7 }), randomNormal([3, 4], 65)] as [tf.Tensor2D, tf.Tensor2D]
    const options = { temperature: 0.5, normalize: true, reduction: "mean" } as const
    const [m1, m2] = [matrix(z1), matrix(z2)]
    expect(Math.max(...m1.map((r) => r.reduce((s, v) => s + v * v, 0)))).toBeLessThan(1e-12)
    const fd1 = finiteDifference((m) => ntXentRef(m, m2, options), m1, 1e-10)
    const [g1] = gradsOf(z1, z2, options)
    expect(g1).toBeAllclose(fd1, { rtol: 1e-4, atol: atol(fd1) })
    tf.dispose([z1, z2])
  })

  it("leave no tensors behind, also under tf.variableGrads", () => {
    const v1 = asVariable(randomNormal([8, 6], 71))
    const v2 = asVariable(randomNormal([8, 6], 72))
    const q = randomNormal([5, 6], 73) as tf.Tensor2D
    expectNoLeaks(() => {
      for (const negatives of [undefined, q]) {
        const { value, grads } = tf.variableGrads(
          () => ntXent(v1 as tf.Tensor2D, v2 as tf.Tensor2D, { temperature: 0.5, negatives }),
          [v1, v2]
        )
        expect(Object.keys(grads).toSorted()).toEqual([v1.name, v2.name].toSorted())
        tf.dispose([value, grads])
      }
    })
    tf.dispose([v1, v2, q])
  })
})

describe("ntXent numerical stability", () => {
  useLeakCheck()

  it("stays finite for identical views, tiny temperature and huge unnormalised rows", () => {
    const z = randomNormal([64, 16], 80) as tf.Tensor2D
    const huge = tf.mul(z, 1e3) as tf.Tensor2D
    const zero = tf.zeros([3, 4]) as tf.Tensor2D
    for (const [a, b, options] of [
      [z, z, { temperature: 0.01 }],
      [huge, huge, { temperature: 0.05, normalize: false }],
      [zero, zero, { temperature: 0.1 }]
    ] as const) {
      const { value, grads } = tf.valueAndGrads((x: tf.Tensor, y: tf.Tensor) => ntXent(x as tf.Tensor2D, y as tf.Tensor2D, options))([a, b])
      expect(Number.isFinite(scalar(value))).toBe(true)
      for (const g of grads) expect(g.dataSync().every(Number.isFinite)).toBe(true)
      tf.dispose([value, grads])
    }
    // All-zero rows: every similarity is 0, so ℓ = log(2N − 1) exactly.
    expect(lossOf(zero, zero)).toBeCloseTo(Math.log(5), 5)
    tf.dispose([z, huge, zero])
  })

  it("at N = 4096, D = 128, τ = 0.05, with the first half of the rows identical in both views: value and gradient rows equal float64 (about 3 min on the cpu backend)", { timeout: 900_000 }, () => {
    const [n, d, temperature] = [4096, 128, 0.05]
    const a = normalArray(n * d, 90)
    const b = normalArray(n * d, 91)
    b.set(a.subarray(0, (n / 2) * d))
    const [z1, z2] = [tf.tensor2d(a, [n, d]), tf.tensor2d(b, [n, d])]
    const { value, grads } = tf.valueAndGrads((x: tf.Tensor, y: tf.Tensor) => ntXent(x as tf.Tensor2D, y as tf.Tensor2D, { temperature }))([z1, z2])
    const ref = ntXentLargeRef(a, b, n, d, temperature)
    const loss = scalar(value)
    expect(Math.abs(loss - ref.loss)).toBeLessThan(1e-5 * Math.abs(ref.loss))
    // The identical rows make the positive the largest logit (1/τ = 20) of its row.
    expect(ref.loss).toBeLessThan(Math.log(2 * n - 2))
    const [g1, g2] = grads.map((g) => g.dataSync())
    const rows = ([[0, 0, g1], [1, 0, g1], [n - 1, 0, g1], [7, n, g2], [n / 2 + 5, n, g2], [n - 3, n, g2]] as const).map(([k, side, grad]) => ({
      expected: ref.gradRow(side + k),
      got: grad!.subarray(k * d, (k + 1) * d)
    }))
    // |Δ| ≤ 1e-4·|ref| + 1e-5·S, S the largest entry over the sampled rows (the fixtures' convention): the
    // rows whose two views are identical have gradients ~100× smaller than the others (the positive's
    // softmax weight nearly cancels the −2·u_pos term), so their float32 rounding is of the others' size.
    const scale = Math.max(...rows.flatMap((r) => Array.from(r.expected, Math.abs)))
    for (const { expected, got } of rows) expected.forEach((v, c) => expect(Math.abs(got[c]! - v)).toBeLessThan(1e-4 * Math.abs(v) + 1e-5 * scale))
    for (const g of grads) expect(g.dataSync().every(Number.isFinite)).toBe(true)
    tf.dispose([z1, z2, value, grads])
  })
})

describe("ntXent input errors name the argument", () => {
  useLeakCheck()

  type Make = (shape: Array<number>, dtype?: tf.DataType) => tf.Tensor2D
  const cases: Array<[string, (z: Make) => unknown, RegExp]> = [
    ["mismatched widths", (z) => ntXent(z([8, 128]), z([8, 64])), /^z2: shape \[8, 64\] must equal z1 shape \[8, 128\]/],
    ["mismatched batch", (z) => ntXent(z([8, 4]), z([6, 4])), /^z2: shape \[6, 4\] must equal z1 shape \[8, 4\]/],
    ["rank 3", (z) => ntXent(z([2, 3, 4]), z([2, 3, 4])), /^z1: expected rank 2 \[N, D\], got rank 3 with shape \[2, 3, 4\]/],
    ["empty batch", (z) => ntXent(z([0, 4]), z([0, 4])), /^z1: empty batch: shape \[0, 4\]/],
    ["rank-3 negatives", (z) => ntXent(z([2, 4]), z([2, 4]), { negatives: z([1, 5, 4]) }), /^options\.negatives: expected rank 2 \[K, D\], got rank 3/],
    ["int32 input", (z) => ntXent(z([2, 4], "int32"), z([2, 4])), /^z1: expected dtype float32, got int32/],
    ["temperature 0", (z) => ntXent(z([2, 4]), z([2, 4]), { temperature: 0 }), /^options\.temperature: must be a finite number > 0, got 0/],
    ["temperature NaN", (z) => ntXent(z([2, 4]), z([2, 4]), { temperature: Number.NaN }), /^options\.temperature: .* got NaN/],
    [
      "bad reduction",
      (z) => ntXent(z([2, 4]), z([2, 4]), { reduction: "sum" as never }),
      /^options\.reduction: must be one of "mean", "official"; got "sum"/
    ],
    [
      "unknown option",
      (z) => ntXent(z([2, 4]), z([2, 4]), { temprature: 0.5 } as never),
      /^options\.temprature: unknown option; known options are "temperature", "normalize", "reduction", "negatives"/
    ],
    [
      "negatives of another width",
      (z) => ntXent(z([2, 4]), z([2, 4]), { negatives: z([5, 3]) }),
      /^options\.negatives: rows must have the same width as z1: options\.negatives \[5, 3\] vs z1 \[2, 4\]/
    ],
    ["not a tensor", (z) => ntXent([[1, 2]] as never, z([1, 2])), /^z1: expected a tf\.Tensor of shape \[N, D\], got \[\[1,2\]\]/],
    [
      "a tensor in place of the options (the queue belongs in options.negatives)",
      (z) => ntXent(z([2, 4]), z([2, 4]), z([5, 4]) as never),
      /^options: expected an options object, got a tensor of shape \[5, 4\]; extra negatives go in options\.negatives/
    ],
    [
      "a circular object",
      (z) => {
        const circular: Record<string, unknown> = {}
        circular["self"] = circular
        return ntXent(circular as never, z([2, 2]))
      },
      /^z1: expected a tf\.Tensor of shape \[N, D\], got a non-serialisable Object$/
    ],
    ["disposed input", (z) => {
      const a = z([2, 2])
      a.dispose()
      return ntXent(a, z([2, 2]))
    }, /^z1: the tensor is disposed/]
  ]
  for (const [name, call, message] of cases) {
    it(`${name} throws InvalidArgumentError`, () => {
      const made: Array<tf.Tensor> = []
      const make: Make = (shape, dtype = "float32") => {
        const t = tf.zeros(shape as Array<number>, dtype) as unknown as tf.Tensor2D
        made.push(t)
        return t
      }
      expect(() => call(make)).toThrow(InvalidArgumentError)
      let thrown: unknown
      try {
        call(make)
      } catch (e) {
        thrown = e
      }
      tf.dispose(made)
      expect(SimclrError.isInstance(thrown)).toBe(true)
      expect((thrown as InvalidArgumentError).argument).toBe((thrown as Error).message.split(":")[0])
      expect((thrown as Error).message).toMatch(message)
    })
  }
})
