import { seededRandom } from "@simclr/test-utils"
import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import "@tensorflow/tfjs-backend-wasm"
// tfjs-core registers no op gradients on its own (the union package does).
import "@tensorflow/tfjs-core/dist/register_all_gradients.js"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { batchMatMulConfig, fusedMatMulConfig, gatherV2Config, identityConfig, meanConfig, meanGradConfig, registerWasmTrainingKernels, reverseConfig, sliceConfig, sumConfig, sumGradConfig, tileConfig } from "../src/index.ts"

let previous = ""
beforeAll(async () => {
  previous = tf.getBackend()
  await tf.setBackend("wasm")
  await tf.ready()
})
afterAll(async () => {
  await tf.setBackend(previous)
})

const values = (n: number, seed: number) => {
  const rng = seededRandom(seed)
  return Float32Array.from({ length: n }, () => rng.uniform() * 2 - 1)
}

type Case = { k: number; s: number; pad: "same" | "valid" | Array<[number, number]>; n: number; h: number; w: number }

/** A case's shapes (5 input and 4 output channels) and padding in the kernels' attribute form. */
const geometry = async (c: Case) => {
  const xShape: [number, number, number, number] = [c.n, c.h, c.w, 5]
  const filterShape: [number, number, number, number] = [c.k, c.k, 5, 4]
  const pad = Array.isArray(c.pad) ? [[0, 0], ...c.pad, [0, 0]] : c.pad
  await tf.setBackend("cpu")
  const dyShape = tf.tidy(() => tf.conv2d(tf.zeros(xShape) as tf.Tensor4D, tf.zeros(filterShape) as tf.Tensor4D, c.s, pad as never).shape as Array<number>)
  return { xShape, filterShape, pad, dyShape }
}

/** Runs one kernel on a backend from plain arrays; returns its output and how many tensors it left behind. */
const runKernelOn = async (backend: string, kernel: string, inputs: Record<string, [Float32Array, Array<number>]>, attrs: Record<string, unknown>) => {
  await tf.setBackend(backend)
  const tensors = Object.fromEntries(Object.entries(inputs).map(([name, [v, shape]]) => [name, tf.tensor(v, shape)]))
  const before = tf.memory().numTensors
  const g = tf.engine().runKernel(kernel, tensors, attrs as tf.NamedAttrMap) as tf.Tensor
  const out = Array.from(g.dataSync())
  g.dispose()
  const leaked = tf.memory().numTensors - before
  tf.dispose(Object.values(tensors))
  return { out, leaked }
}

/** The wasm kernel's output equals cpu's to 1e-5 of its scale (float32 sums of up to 3·13·12 products: ~1e-6), without leaks. */
const expectWasmMatchesCpu = async (c: Case, kernel: string, inputs: Record<string, [Float32Array, Array<number>]>, attrs: Record<string, unknown>) => {
  const reference = await runKernelOn("cpu", kernel, inputs, attrs)
  const wasm = await runKernelOn("wasm", kernel, inputs, attrs)
  const scale = Math.max(...reference.out.map(Math.abs))
  const worst = Math.max(...reference.out.map((v, j) => Math.abs(v - wasm.out[j]!)))
  expect({ case: c, length: wasm.out.length, close: worst / scale < 1e-5, leaked: wasm.leaked }).toEqual({ case: c, length: reference.out.length, close: true, leaked: 0 })
}

const size = (shape: ReadonlyArray<number>) => shape.reduce((a, b) => a * b, 1)

describe("wasm training kernels", () => {
  it("adds the missing filter gradient, replaces the input gradient, Tile, Sum, Mean, Identity, the matrix products, GatherV2, Reverse and Slice, once", () => {
    expect(tf.getKernel("Conv2DBackpropFilter", "wasm") === undefined || registerWasmTrainingKernels().length === 0).toBe(true)
    registerWasmTrainingKernels()
    expect(tf.getKernel("Conv2DBackpropFilter", "wasm")).toBeDefined()
    expect(tf.getKernel("Tile", "wasm")?.kernelFunc).toBe(tileConfig.kernelFunc)
    expect(registerWasmTrainingKernels()).toEqual([])
  })

  // Every combination the issue lists: 1×1 / 3×3 / 7×7 kernels, strides 1 and 2, same / valid and
  // explicit (torch-style) padding, batch 1 and 3, odd and even sizes. Reference: the cpu backend's kernel.
  const cases: Array<Case> = []
  for (const k of [1, 3, 7]) {
    for (const s of [1, 2]) {
      for (const pad of ["same", "valid", [[k >> 1, k >> 1], [k >> 1, k >> 1]]] as const) {
        for (const n of [1, 3]) cases.push({ k, s, pad: pad as never, n, h: 13, w: 12 })
      }
    }
  }
  it(`equals the cpu backend's filter gradient to 1e-5 of its scale in ${cases.length} cases, without leaking`, async () => {
    registerWasmTrainingKernels()
    for (const [i, c] of cases.entries()) {
      const { xShape, filterShape, pad, dyShape } = await geometry(c)
      const inputs = { x: [values(size(xShape), 2 * i + 1), xShape], dy: [values(size(dyShape), 2 * i + 2), dyShape] } as Record<string, [Float32Array, Array<number>]>
      await expectWasmMatchesCpu(c, "Conv2DBackpropFilter", inputs, { strides: [c.s, c.s], pad, dataFormat: "NHWC", filterShape })
    }
  })

  it(`Conv2DBackpropInput (the replacement) equals the cpu backend's input gradient in ${cases.length} cases, without leaking`, async () => {
    registerWasmTrainingKernels()
    for (const [i, c] of cases.entries()) {
      const { xShape, filterShape, pad, dyShape } = await geometry(c)
      const inputs = { dy: [values(size(dyShape), 100 + i), dyShape], filter: [values(size(filterShape), 200 + i), filterShape] } as Record<string, [Float32Array, Array<number>]>
      await expectWasmMatchesCpu(c, "Conv2DBackpropInput", inputs, { strides: [c.s, c.s], pad, dataFormat: "NHWC", inputShape: xShape })
    }
  })

  it("lets tf.grad of a convolution (input and filter) run on wasm, equal to cpu", async () => {
    registerWasmTrainingKernels()
    const x = values(2 * 9 * 9 * 3, 7)
    const f = values(3 * 3 * 3 * 2, 8)
    const gradOn = async (backend: string) => {
      await tf.setBackend(backend)
      const xt = tf.tensor4d(x, [2, 9, 9, 3])
      const ft = tf.tensor4d(f, [3, 3, 3, 2])
      const [gx, gw] = tf.grads((a: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, 2, "same"))))([xt, ft])
      const out = [...Array.from(gx!.dataSync()), ...Array.from(gw!.dataSync())]
      tf.dispose([xt, ft, gx!, gw!])
      return out
    }
    const cpu = await gradOn("cpu")
    const wasm = await gradOn("wasm")
    const scale = Math.max(...cpu.map(Math.abs))
    cpu.forEach((v, i) => expect(Math.abs(v - wasm[i]!) / scale).toBeLessThan(1e-5))
  })

  it("Tile (the replacement) equals the cpu backend's, bit for bit, for float32, int32 and bool, every rank and reps", async () => {
    registerWasmTrainingKernels()
    const tileCases: Array<[Array<number>, Array<number>]> = [
      [[1, 1, 1, 8], [6, 5, 4, 1]], // a batch-norm gradient's broadcast
      [[2, 3, 4], [3, 1, 2]],
      [[3, 1, 2, 1], [1, 4, 1, 3]],
      [[5], [4]],
      [[2, 3], [1, 1]],
      [[2, 1, 3, 1, 2], [2, 3, 1, 2, 2]],
      [[0, 3], [2, 2]], // empty
      [[], []] // scalar
    ]
    for (const [shape, reps] of tileCases) {
      for (const dtype of ["float32", "int32", "bool"] as const) {
        const n = size(shape)
        const data = dtype === "float32" ? values(n, n + 3) : Int32Array.from({ length: n }, (_v, i) => (dtype === "bool" ? (i * 7) % 3 === 0 ? 1 : 0 : i * 13 - 40))
        const on = async (backend: string) => {
          await tf.setBackend(backend)
          const t = tf.tensor(data, shape, dtype)
          const before = tf.memory().numTensors
          const out = tf.tile(t, reps)
          const result = { shape: out.shape, values: Array.from(out.dataSync()), dtype: out.dtype }
          out.dispose()
          const leaked = tf.memory().numTensors - before
          t.dispose()
          return { ...result, leaked }
        }
        expect({ case: { shape, reps, dtype }, ...(await on("wasm")) }).toEqual({ case: { shape, reps, dtype }, ...(await on("cpu")) })
      }
    }
  })

  it("Sum and Mean (the replacements) equal the cpu backend's for every axis set and keepDims (float32; int32 sums), without leaking", async () => {
    registerWasmTrainingKernels()
    expect(tf.getKernel("Sum", "wasm")?.kernelFunc).toBe(sumConfig.kernelFunc)
    expect(tf.getKernel("Mean", "wasm")?.kernelFunc).toBe(meanConfig.kernelFunc)
    const shape = [6, 5, 4, 7]
    // Leading runs (the matrix–vector path), then others (handed to the stock kernels), negative axes too.
    const axisSets: Array<number | Array<number>> = [[0, 1, 2], [0], [0, 1], [-4, -3, -2], [1, 2], [3], 2, [0, 2], [0, 1, 2, 3]]
    for (const op of ["sum", "mean"] as const) {
      for (const axis of axisSets) {
        for (const keepDims of [false, true]) {
          // int32 means go to the stock kernels, and stock wasm and cpu round integer means differently
          // (not ours to change): int32 is compared for sums only.
          for (const dtype of op === "sum" ? (["float32", "int32"] as const) : (["float32"] as const)) {
            const data = dtype === "float32" ? values(size(shape), 7) : Int32Array.from({ length: size(shape) }, (_v, i) => (i * 13) % 29 - 14)
            const on = async (backend: string) => {
              await tf.setBackend(backend)
              const t = tf.tensor(data, shape, dtype)
              const before = tf.memory().numTensors
              const out = (op === "sum" ? tf.sum : tf.mean)(t, axis, keepDims)
              const result = { shape: out.shape, values: Array.from(out.dataSync()), dtype: out.dtype }
              out.dispose()
              const leaked = tf.memory().numTensors - before
              t.dispose()
              return { ...result, leaked }
            }
            const [wasm, cpu] = [await on("wasm"), await on("cpu")]
            const c = { op, axis, keepDims, dtype }
            expect({ c, shape: wasm.shape, dtype: wasm.dtype, leaked: wasm.leaked }).toEqual({ c, shape: cpu.shape, dtype: cpu.dtype, leaked: 0 })
            // float32: sums of up to 210 terms in another order; 1e-6 of the sum of magnitudes (|x| ≤ 1).
            const tolerance = dtype === "int32" ? 0 : 1e-6 * 210
            expect({ c, close: wasm.values.every((v, i) => Math.abs(v - cpu.values[i]!) <= tolerance) }).toEqual({ c, close: true })
          }
        }
      }
    }
  })

  it("Identity (the replacement) shares the input's memory: same values, no copy, and freeing one leaves the other intact", async () => {
    registerWasmTrainingKernels()
    expect(tf.getKernel("Identity", "wasm")?.kernelFunc).toBe(identityConfig.kernelFunc)
    await tf.setBackend("wasm")
    const before = tf.memory()
    const x = tf.tensor([1.5, -2, 3, 4], [2, 2])
    const y = tf.clone(x) // the Identity kernel
    expect(tf.memory().numDataBuffers - before.numDataBuffers).toBe(1) // one buffer for both tensors
    x.dispose()
    expect(Array.from(y.dataSync())).toEqual([1.5, -2, 3, 4])
    y.dispose()
    const ints = tf.tensor([1, 2, 3], [3], "int32")
    const copied = tf.clone(ints)
    expect([copied.dtype, Array.from(copied.dataSync())]).toEqual(["int32", [1, 2, 3]])
    tf.dispose([ints, copied])
    const strings = tf.tensor(["a", "b"])
    const s = tf.clone(strings)
    expect(Array.from(s.dataSync() as unknown as Array<string>)).toEqual(["a", "b"])
    tf.dispose([strings, s])
    expect(tf.memory().numTensors).toBe(before.numTensors)
  })

  it("BatchMatMul and _FusedMatMul (the replacements) equal the cpu backend's with every transpose, batched and fused (stock wasm misplaces a batched product's bias), without leaking", async () => {
    registerWasmTrainingKernels()
    expect(tf.getKernel("BatchMatMul", "wasm")?.kernelFunc).toBe(batchMatMulConfig.kernelFunc)
    expect(tf.getKernel("_FusedMatMul", "wasm")?.kernelFunc).toBe(fusedMatMulConfig.kernelFunc)
    const products: Array<{ a: Array<number>; b: Array<number>; ta: boolean; tb: boolean; fused: boolean }> = []
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      for (const fused of [false, true]) {
        // a is [M, K] = [5, 7] and b [K, N] = [7, 3] before transposing; batched: 2 of each (rank 3).
        for (const batch of [[], [2]]) products.push({ a: [...batch, ...(ta ? [7, 5] : [5, 7])], b: [...batch, ...(tb ? [3, 7] : [7, 3])], ta, tb, fused })
      }
    }
    for (const c of products) {
      const on = async (backend: string) => {
        await tf.setBackend(backend)
        const a = tf.tensor(values(size(c.a), 11), c.a)
        const b = tf.tensor(values(size(c.b), 12), c.b)
        const bias = tf.tensor1d(values(3, 13))
        const before = tf.memory().numTensors
        const out = c.fused
          ? tf.fused.matMul({ a, b, transposeA: c.ta, transposeB: c.tb, bias, activation: "relu" })
          : tf.matMul(a, b, c.ta, c.tb)
        const result = { shape: out.shape, values: Array.from(out.dataSync()) }
        out.dispose()
        const leaked = tf.memory().numTensors - before
        tf.dispose([a, b, bias])
        return { ...result, leaked }
      }
      const [wasm, cpu] = [await on("wasm"), await on("cpu")]
      expect({ c, shape: wasm.shape, leaked: wasm.leaked }).toEqual({ c, shape: cpu.shape, leaked: 0 })
      // float32 dot products of 7 terms of magnitude ≤ 1.
      expect({ c, close: wasm.values.every((v, i) => Math.abs(v - cpu.values[i]!) <= 1e-6) }).toEqual({ c, close: true })
    }
  })

  it("GatherV2 and Reverse (the replacements) equal the cpu backend's bit for bit, every axis, dtype and index shape, without leaking", async () => {
    registerWasmTrainingKernels()
    expect(tf.getKernel("GatherV2", "wasm")?.kernelFunc).toBe(gatherV2Config.kernelFunc)
    expect(tf.getKernel("Reverse", "wasm")?.kernelFunc).toBe(reverseConfig.kernelFunc)
    const shape = [4, 3, 5, 2]
    const dataOf = (dtype: "float32" | "int32" | "bool") =>
      dtype === "float32" ? values(size(shape), 5) : Int32Array.from({ length: size(shape) }, (_v, i) => (dtype === "bool" ? i % 3 === 0 ? 1 : 0 : i * 7 - 50))
    const on = async (backend: string, f: (t: tf.Tensor) => tf.Tensor, dtype: "float32" | "int32" | "bool") => {
      await tf.setBackend(backend)
      const t = tf.tensor(dataOf(dtype), shape, dtype)
      const before = tf.memory().numTensors
      const out = f(t)
      const result = { shape: out.shape, dtype: out.dtype, values: Array.from(out.dataSync()) }
      out.dispose()
      const leaked = tf.memory().numTensors - before
      t.dispose()
      return { ...result, leaked }
    }
    const gathers: Array<{ axis: number; indices: Array<number> | Array<Array<number>> }> = [
      { axis: 0, indices: [3, 0, 0, 2] },
      { axis: 1, indices: [2, 1] },
      { axis: 2, indices: [[4, 0], [1, 1], [3, 2]] },
      { axis: 3, indices: [1, 0, 1] },
      { axis: -2, indices: [0] },
      { axis: 0, indices: [] }
    ]
    const reverses: Array<Array<number>> = [[0], [1], [2], [3], [1, 2], [0, 3], [0, 1, 2, 3], [-2], []]
    for (const dtype of ["float32", "int32", "bool"] as const) {
      for (const g of gathers) {
        const f = (t: tf.Tensor) => tf.tidy(() => tf.gather(t, tf.tensor(g.indices.flat(), Array.isArray(g.indices[0]) ? [g.indices.length, (g.indices[0] as Array<number>).length] : [g.indices.length], "int32"), g.axis))
        const c = { gather: g, dtype }
        expect({ c, ...(await on("wasm", f, dtype)) }).toEqual({ c, ...(await on("cpu", f, dtype)) })
      }
      for (const dims of reverses) {
        const c = { reverse: dims, dtype }
        const f = (t: tf.Tensor) => tf.reverse(t, dims)
        expect({ c, ...(await on("wasm", f, dtype)) }).toEqual({ c, ...(await on("cpu", f, dtype)) })
      }
    }
    await tf.setBackend("wasm")
    const t = tf.tensor2d([[1, 2], [3, 4]])
    const bad = tf.tensor1d([0, 2], "int32")
    const before = tf.memory().numTensors
    expect(() => tf.gather(t, bad)).toThrow(/GatherV2: the index value 2 is not in \[0, 1\]/)
    expect(tf.memory().numTensors).toBe(before)
    tf.dispose([t, bad])
  })

  it("a wasm backend started after registration still runs the cases handed to the stock kernels (their setup is kept)", async () => {
    registerWasmTrainingKernels()
    const factory = tf.findBackendFactory("wasm")
    tf.removeBackend("wasm")
    tf.registerBackend("wasm", factory, 2)
    expect(await tf.setBackend("wasm")).toBe(true)
    const before = tf.memory().numTensors
    const x = tf.tensor2d([[1, 2], [3, 4]])
    const rows = tf.sum(x, 1) // rank 2: the stock Sum
    const means = tf.mean(x, 0) // rank 2: the stock Mean
    const product = tf.matMul(x, x) // no transposes: the stock BatchMatMul
    expect([Array.from(rows.dataSync()), Array.from(means.dataSync()), Array.from(product.dataSync())]).toEqual([[3, 7], [2, 3], [7, 10, 15, 22]])
    tf.dispose([x, rows, means, product])
    expect(tf.memory().numTensors).toBe(before)
  })

  it("Slice (the replacement) equals the cpu backend's bit for bit for every begin / size form, dtype and rank, without leaking", async () => {
    registerWasmTrainingKernels()
    expect(tf.getKernel("Slice", "wasm")?.kernelFunc).toBe(sliceConfig.kernelFunc)
    const shape = [4, 3, 5, 2]
    const slices: Array<[number | Array<number>, number | Array<number>]> = [
      [[0, 0, 0, 0], [4, 3, 5, 2]], // everything
      [[1, 0, 0, 0], [2, -1, -1, -1]], // a run of whole images
      [[0, 1, 2, 0], [-1, 2, 3, -1]], // the conv input gradient's crop
      [[3, 2, 4, 1], [1, 1, 1, 1]], // one element
      [[0, 0, 0, 1], [-1, -1, -1, 1]], // the last axis cut
      [[1, 1], [2, 1]], // fewer axes than the rank
      [2, 1], // numbers
      [[0, 0, 5, 0], [-1, -1, 0, -1]] // empty
    ]
    for (const dtype of ["float32", "int32", "bool"] as const) {
      for (const [begin, extent] of slices) {
        const on = async (backend: string) => {
          await tf.setBackend(backend)
          const n = shape.reduce((a, b) => a * b, 1)
          const t = tf.tensor(dtype === "float32" ? values(n, 9) : Int32Array.from({ length: n }, (_v, i) => (dtype === "bool" ? i % 2 : i - 30)), shape, dtype)
          const before = tf.memory().numTensors
          const out = tf.slice(t, begin, extent)
          const result = { shape: out.shape, dtype: out.dtype, values: Array.from(out.dataSync()) }
          out.dispose()
          const leaked = tf.memory().numTensors - before
          t.dispose()
          return { ...result, leaked }
        }
        const c = { begin, extent, dtype }
        expect({ c, ...(await on("wasm")) }).toEqual({ c, ...(await on("cpu")) })
      }
    }
    // Rank 1 and a scalar-free vector.
    await tf.setBackend("wasm")
    const v = tf.tensor1d([1, 2, 3, 4, 5])
    const part = tf.slice(v, 1, 3)
    expect(Array.from(part.dataSync())).toEqual([2, 3, 4])
    tf.dispose([v, part])
  })

  it("registers Sum's and Mean's gradients without a ones tensor: the upstream gradient broadcast (÷ size for the mean), on cpu and wasm", async () => {
    registerWasmTrainingKernels()
    expect(tf.getGradient("Sum")?.gradFunc).toBe(sumGradConfig.gradFunc)
    expect(tf.getGradient("Mean")?.gradFunc).toBe(meanGradConfig.gradFunc)
    const shape = [3, 4, 2, 5]
    for (const backend of ["cpu", "wasm"]) {
      await tf.setBackend(backend)
      for (const axis of [[0, 1, 2], [1], [3], [0, 3], [0, 1, 2, 3]]) {
        for (const op of ["sum", "mean"] as const) {
          const before = tf.memory().numTensors
          const x = tf.tensor(values(size(shape), 21), shape)
          const kept = shape.map((d, i) => (axis.includes(i) ? 1 : d))
          const c = tf.tensor(values(size(kept), 22), kept)
          // d/dx Σ (reduce(x) · c) = c broadcast back over the reduced axes (÷ their size for the mean).
          const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul((op === "sum" ? tf.sum : tf.mean)(t, axis, true), c)))(x)
          const reduced = axis.reduce((n, a) => n * shape[a]!, 1)
          const cv = c.dataSync()
          const expected = Array.from({ length: size(shape) }, (_v, flat) => {
            let rest = flat
            let at = 0
            let stride = 1
            const coords = shape.map(() => 0)
            for (let a = shape.length - 1; a >= 0; a--) {
              coords[a] = rest % shape[a]!
              rest = Math.floor(rest / shape[a]!)
            }
            for (let a = shape.length - 1; a >= 0; a--) {
              at += (axis.includes(a) ? 0 : coords[a]!) * stride
              stride *= kept[a]!
            }
            return op === "sum" ? cv[at]! : cv[at]! / reduced
          })
          const got = Array.from(dx.dataSync())
          const k = { backend, axis, op }
          expect({ k, close: got.every((v, i) => Math.abs(v - expected[i]!) <= 1e-7 * Math.abs(expected[i]!)) }).toEqual({ k, close: true })
          tf.dispose([x, c, dx])
          expect({ k, leaked: tf.memory().numTensors - before }).toEqual({ k, leaked: 0 })
        }
      }
    }
  })
})
