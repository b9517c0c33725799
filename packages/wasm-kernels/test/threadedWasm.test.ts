import { expectAllclose, seededRandom } from "@simclr/test-utils"
import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import "@tensorflow/tfjs-backend-wasm"
import "@tensorflow/tfjs-core/dist/register_all_gradients.js"
import { availableParallelism } from "node:os"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerWasmTrainingKernels } from "../src/index.ts"
import { MAX_WASM_THREADS, registerThreadedWasmBackend, wasmThreading } from "../src/node.ts"

// This file starts the wasm backend through registerThreadedWasmBackend, so it runs in its own vitest
// worker (a module-level backend registry is per worker).
const wanted = Math.min(2, availableParallelism())
let previous = ""

beforeAll(async () => {
  previous = tf.getBackend()
  if (tf.findBackend("wasm") !== null) {
    // SIMCLR_TEST_BACKEND=wasm: the shared setup already started the stock build. Put its factory back
    // unstarted, so this file starts the threaded one as an application would.
    const stock = tf.findBackendFactory("wasm")
    tf.removeBackend("wasm")
    tf.registerBackend("wasm", stock, 2)
  }
  registerThreadedWasmBackend({ threads: wanted })
  if (!(await tf.setBackend("wasm"))) throw new Error("the wasm backend did not start")
  registerWasmTrainingKernels()
})
afterAll(async () => {
  await tf.setBackend(previous)
})

const values = (n: number, seed: number) => {
  const rng = seededRandom(seed)
  return Float32Array.from({ length: n }, () => rng.uniform() * 2 - 1)
}

/** A small two-layer conv net's loss. */
const twoConvs = (a: tf.Tensor4D, b: tf.Tensor4D, c: tf.Tensor4D) => tf.sum(tf.square(tf.conv2d(tf.relu(tf.conv2d(a, b, 2, "same")), c, 1, "valid")))

/** Conv forward, input and filter gradients of the two-layer net on one backend. */
const convGrads = async (backend: string) => {
  await tf.setBackend(backend)
  return tf.tidy(() => {
    const x = tf.tensor4d(values(4 * 12 * 12 * 3, 1), [4, 12, 12, 3])
    const w1 = tf.tensor4d(values(3 * 3 * 3 * 16, 2), [3, 3, 3, 16])
    const w2 = tf.tensor4d(values(1 * 1 * 16 * 8, 3), [1, 1, 16, 8])
    const f = twoConvs
    const [dx, dw1, dw2] = tf.grads(f as never)([x, w1, w2]).map((g) => g.dataSync())
    return { y: f(x, w1, w2).dataSync()[0]!, dx: dx!, dw1: dw1!, dw2: dw2! }
  })
}

describe("registerThreadedWasmBackend", () => {
  it("runs the threaded SIMD build with the threads asked for", () => {
    const status = wasmThreading()
    expect(status).toEqual({ threaded: true, threads: wanted })
  })

  it("computes convolutions and their gradients as the cpu backend does (1e-4 of the scale)", async () => {
    const before = tf.memory().numTensors
    const wasm = await convGrads("wasm")
    const cpu = await convGrads("cpu")
    await tf.setBackend("wasm")
    expect(tf.memory().numTensors).toBe(before)
    expect(Math.abs(wasm.y - cpu.y)).toBeLessThanOrEqual(1e-4 * Math.abs(cpu.y))
    for (const key of ["dx", "dw1", "dw2"] as const) {
      const scale = Array.from(cpu[key]).reduce((m, v) => Math.max(m, Math.abs(v)), 0)
      expectAllclose(wasm[key], cpu[key], { rtol: 0, atol: 1e-4 * scale })
    }
  })

  it("gives the same result on every run (threads do not change the arithmetic)", async () => {
    const a = await convGrads("wasm")
    const b = await convGrads("wasm")
    expect(Array.from(a.dw1)).toEqual(Array.from(b.dw1))
    expect(Array.from(a.dx)).toEqual(Array.from(b.dx))
  })

  it("names the option and the range for a bad thread count, and refuses once the backend has started", () => {
    expect(() => registerThreadedWasmBackend({ threads: 0 })).toThrow(/threads: expected an integer from 1 to 8, got 0/)
    expect(() => registerThreadedWasmBackend({ threads: MAX_WASM_THREADS + 1 })).toThrow(/threads: expected an integer/)
    expect(() => registerThreadedWasmBackend({ threads: 1.5 })).toThrow(/threads/)
    expect(() => registerThreadedWasmBackend({ threads: 2 })).toThrow(/already started/)
  })
})
