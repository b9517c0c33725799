import { seededRandom } from "@simclr/test-utils"
import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import "@tensorflow/tfjs-backend-wasm"
// tfjs-core registers no op gradients on its own (the union package does).
import "@tensorflow/tfjs-core/dist/register_all_gradients.js"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerWasmTrainingKernels } from "../src/index.ts"

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

/** The filter gradient on a backend, through the kernel tfjs's conv2d gradient calls. */
const filterGrad = async (backend: string, x: Float32Array, xShape: Array<number>, dy: Float32Array, dyShape: Array<number>, filterShape: Array<number>, strides: number, pad: "same" | "valid" | Array<[number, number]>) => {
  await tf.setBackend(backend)
  const xt = tf.tensor(x, xShape)
  const dyt = tf.tensor(dy, dyShape)
  const before = tf.memory().numTensors
  const explicit = Array.isArray(pad) ? [[0, 0], ...pad, [0, 0]] : pad
  const g = tf.engine().runKernel("Conv2DBackpropFilter", { x: xt, dy: dyt }, { strides: [strides, strides], pad: explicit, dataFormat: "NHWC", filterShape } as unknown as tf.NamedAttrMap) as tf.Tensor
  const out = Array.from(g.dataSync())
  g.dispose()
  const leaked = tf.memory().numTensors - before
  tf.dispose([xt, dyt])
  return { out, leaked }
}

describe("wasm training kernels", () => {
  it("adds the missing filter gradient, replaces the input gradient, once", () => {
    expect(tf.getKernel("Conv2DBackpropFilter", "wasm") === undefined || registerWasmTrainingKernels().length === 0).toBe(true)
    registerWasmTrainingKernels()
    expect(tf.getKernel("Conv2DBackpropFilter", "wasm")).toBeDefined()
    expect(registerWasmTrainingKernels()).toEqual([])
  })

  // Every combination the issue lists: 1×1 / 3×3 / 7×7 kernels, strides 1 and 2, same / valid and
  // explicit (torch-style) padding, batch 1 and 3, odd and even sizes. Reference: the cpu backend's kernel.
  const cases: Array<{ k: number; s: number; pad: "same" | "valid" | Array<[number, number]>; n: number; h: number; w: number }> = []
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
      const ci = 5
      const co = 4
      const xShape: [number, number, number, number] = [c.n, c.h, c.w, ci]
      const filterShape: [number, number, number, number] = [c.k, c.k, ci, co]
      await tf.setBackend("cpu")
      const dyShape = tf.tidy(() => {
        const pad = Array.isArray(c.pad) ? [[0, 0], ...c.pad, [0, 0]] as Array<[number, number]> : c.pad
        return tf.conv2d(tf.zeros(xShape) as tf.Tensor4D, tf.zeros(filterShape) as tf.Tensor4D, c.s, pad as never).shape as Array<number>
      })
      const x = values(xShape.reduce((a, b) => a * b, 1), 2 * i + 1)
      const dy = values(dyShape.reduce((a, b) => a * b, 1), 2 * i + 2)
      const reference = await filterGrad("cpu", x, xShape, dy, dyShape, filterShape, c.s, c.pad)
      const wasm = await filterGrad("wasm", x, xShape, dy, dyShape, filterShape, c.s, c.pad)
      const scale = Math.max(...reference.out.map(Math.abs))
      const worst = Math.max(...reference.out.map((v, j) => Math.abs(v - wasm.out[j]!)))
      // float32 sums of up to 3·13·12 products: ~1e-6 of the scale; 1e-5 leaves room.
      expect({ case: c, length: wasm.out.length, close: worst / scale < 1e-5, leaked: wasm.leaked }).toEqual({ case: c, length: reference.out.length, close: true, leaked: 0 })
    }
  })

  it(`Conv2DBackpropInput (the replacement) equals the cpu backend's input gradient in ${cases.length} cases, without leaking`, async () => {
    registerWasmTrainingKernels()
    for (const [i, c] of cases.entries()) {
      const ci = 5
      const co = 4
      const xShape: [number, number, number, number] = [c.n, c.h, c.w, ci]
      const filterShape: [number, number, number, number] = [c.k, c.k, ci, co]
      const pad = Array.isArray(c.pad) ? [[0, 0], ...c.pad, [0, 0]] : c.pad
      await tf.setBackend("cpu")
      const dyShape = tf.tidy(() => tf.conv2d(tf.zeros(xShape) as tf.Tensor4D, tf.zeros(filterShape) as tf.Tensor4D, c.s, pad as never).shape as Array<number>)
      const dy = values(dyShape.reduce((a, b) => a * b, 1), 100 + i)
      const filter = values(filterShape.reduce((a, b) => a * b, 1), 200 + i)
      const inputGrad = async (backend: string) => {
        await tf.setBackend(backend)
        const dyt = tf.tensor(dy, dyShape)
        const ft = tf.tensor(filter, filterShape)
        const before = tf.memory().numTensors
        const g = tf.engine().runKernel("Conv2DBackpropInput", { dy: dyt, filter: ft }, { strides: [c.s, c.s], pad, dataFormat: "NHWC", inputShape: xShape } as unknown as tf.NamedAttrMap) as tf.Tensor
        const out = Array.from(g.dataSync())
        g.dispose()
        const leaked = tf.memory().numTensors - before
        tf.dispose([dyt, ft])
        return { out, leaked }
      }
      const reference = await inputGrad("cpu")
      const wasm = await inputGrad("wasm")
      const scale = Math.max(...reference.out.map(Math.abs))
      const worst = Math.max(...reference.out.map((v, j) => Math.abs(v - wasm.out[j]!)))
      expect({ case: c, length: wasm.out.length, close: worst / scale < 1e-5, leaked: wasm.leaked }).toEqual({ case: c, length: reference.out.length, close: true, leaked: 0 })
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
})
