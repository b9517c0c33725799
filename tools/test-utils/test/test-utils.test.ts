import * as tf from "@tensorflow/tfjs-core"
import { describe, expect, it } from "vitest"
import { allclose, asVariable, expectNoLeaks, normalArray, onBackendWithKernel, randomNormal, requestedTestBackend, seededRandom } from "../src/index.ts"

describe("allclose", () => {
  it("passes within atol + rtol·|expected| and fails just outside", () => {
    expect(allclose([1, 2], [1 + 1e-6, 2], { rtol: 1e-5 }).pass).toBe(true)
    expect(allclose([1, 2], [1 + 2e-5, 2], { rtol: 1e-5, atol: 0 }).pass).toBe(false)
    expect(allclose([0], [1e-9], { rtol: 0, atol: 1e-8 }).pass).toBe(true)
    expect(allclose([0], [1e-7], { rtol: 0.5, atol: 1e-8 }).pass).toBe(false)
  })

  it("reports the worst element, and fails on NaN, sizes and shapes", () => {
    const r = allclose([1, 5, 3], [1, 2, 3])
    expect(r.pass).toBe(false)
    expect(r.message).toMatch(/1 of 3 values differ; worst at flat index 1: actual 5 vs expected 2/)
    expect(allclose([Number.NaN], [Number.NaN]).pass).toBe(false)
    expect(allclose([Number.NaN], [Number.NaN], { equalNaN: true }).pass).toBe(true)
    expect(allclose([1, 2], [1, 2, 3]).pass).toBe(false)
    const t = tf.zeros([2, 3])
    expect(allclose(t, [[0, 0], [0, 0], [0, 0]]).message).toMatch(/shape \[2,3\] differs from expected \[3,2\]/)
    expect(allclose(t, [[0, 0, 0], [0, 0, 0]]).pass).toBe(true)
    t.dispose()
  })

  it("is registered as the toBeAllclose matcher", () => {
    expect([1, 2]).toBeAllclose([1, 2])
    expect(() => expect([1, 2]).toBeAllclose([1, 3])).toThrow(/expected values to be close/)
  })
})

describe("leak checks", () => {
  it("expectNoLeaks passes clean code and throws on a leaked tensor", () => {
    expect(expectNoLeaks(() => tf.tidy(() => tf.sum(tf.ones([2])).dataSync()[0]))).toBe(2)
    let leaked: tf.Tensor | undefined
    expect(() =>
      expectNoLeaks(() => {
        leaked = tf.ones([3])
      })
    ).toThrow(/tensor leak: 1 tensor\(s\) still alive/)
    leaked?.dispose()
  })

  it("asVariable leaves one tensor, not two", () => {
    const before = tf.memory().numTensors
    const v = asVariable(tf.ones([2]))
    expect(tf.memory().numTensors - before).toBe(1)
    v.dispose()
  })
})

describe("seeded makers", () => {
  it("same seed, same values; other seed, other values", () => {
    expect(Array.from(normalArray(5, 7))).toEqual(Array.from(normalArray(5, 7)))
    expect(Array.from(normalArray(5, 7))).not.toEqual(Array.from(normalArray(5, 8)))
    const t = randomNormal([2, 2], 7)
    expect(Array.from(t.dataSync())).toEqual(Array.from(normalArray(4, 7)))
    t.dispose()
  })

  it("draws standard normals (mean ≈ 0, variance ≈ 1 over 1e5 draws) and uniforms in [0, 1)", () => {
    const x = normalArray(100_000, 1)
    const mean = x.reduce((a, b) => a + b, 0) / x.length
    const variance = x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length
    // Standard errors: 0.0032 for the mean, 0.0045 for the variance; 5σ bounds.
    expect(Math.abs(mean)).toBeLessThan(0.016)
    expect(Math.abs(variance - 1)).toBeLessThan(0.023)
    const rng = seededRandom(3)
    for (let i = 0; i < 1000; i++) {
      const u = rng.uniform()
      expect(u >= 0 && u < 1).toBe(true)
    }
  })
})

describe("backend selection", () => {
  it("reads SIMCLR_TEST_BACKEND and rejects unknown names", () => {
    expect(requestedTestBackend({})).toBe("cpu")
    expect(requestedTestBackend({ SIMCLR_TEST_BACKEND: "wasm" })).toBe("wasm")
    expect(() => requestedTestBackend({ SIMCLR_TEST_BACKEND: "gpu" })).toThrow(/must be one of "cpu", "wasm", "tensorflow"; got "gpu"/)
    expect(tf.getBackend()).toBe(requestedTestBackend())
  })

  it("onBackendWithKernel runs on the suite backend when it has the kernel, else on cpu, and switches back", async () => {
    const suite = tf.getBackend()
    const seen: Array<string> = []
    expect(await onBackendWithKernel("Add", () => void seen.push(tf.getBackend()))).toBe(suite)
    // A kernel no backend registers: the fallback runs, and the suite backend is restored even after a throw.
    expect(await onBackendWithKernel("NoSuchKernel", () => void seen.push(tf.getBackend()))).toBe("cpu")
    await expect(onBackendWithKernel("NoSuchKernel", () => Promise.reject(new Error("boom")))).rejects.toThrow("boom")
    expect(seen).toEqual([suite, "cpu"])
    expect(tf.getBackend()).toBe(suite)
  })
})
