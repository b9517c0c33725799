/** The error family and the argument checks: each names the argument and what it allows. */
import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import { expect, it } from "vitest"
import { assertImages, assertMatrix, describe, InvalidArgumentError, knownKeys, numberIn, oneOf, perImage, positiveNumber, SimclrError, seedOf } from "../src/index.ts"

const thrown = (f: () => unknown): InvalidArgumentError => {
  try {
    f()
  } catch (error) {
    return error as InvalidArgumentError
  }
  throw new Error("did not throw")
}

it("InvalidArgumentError names its argument and is a SimclrError, recognised across copies by its global marker", () => {
  const e = new InvalidArgumentError("options.size", "must be an integer ≥ 1, got 0")
  expect([e.name, e.argument, e.message]).toEqual(["InvalidArgumentError", "options.size", "options.size: must be an integer ≥ 1, got 0"])
  expect(e instanceof SimclrError && e instanceof Error).toBe(true)
  expect(SimclrError.isInstance(e)).toBe(true)
  // An error from another installed copy of @simclr/core carries the same global symbol.
  expect(SimclrError.isInstance({ [Symbol.for("@simclr/error")]: true })).toBe(true)
  expect(SimclrError.isInstance(new Error("x"))).toBe(false)
  expect(SimclrError.isInstance(null)).toBe(false)
})

it("checks shapes, dtypes, options and numbers by name", () => {
  const t = tf.zeros([2, 3])
  expect(thrown(() => assertMatrix("keys", tf.zeros([2]), "[B, D]")).message).toMatch(/^keys: /)
  expect(thrown(() => assertMatrix("keys", "x", "[B, D]")).argument).toBe("keys")
  expect(thrown(() => assertImages("images", t)).message).toContain("rank 4")
  expect(thrown(() => assertImages("images", tf.zeros([1, 2, 2, 3], "int32"))).message).toContain("dtype int32")
  expect(thrown(() => knownKeys("options", { sise: 1 }, ["size", "dim"])).argument).toBe("options.sise")
  expect(thrown(() => oneOf("options.mode", "bogus", ["a", "b"], "a")).message).toContain('"a"')
  expect(oneOf("options.mode", undefined, ["a", "b"], "b")).toBe("b")
  expect(thrown(() => numberIn("options.p", 2, 0.5, [0, 1])).message).toBe("options.p: must be a number in [0, 1], got 2")
  expect(thrown(() => numberIn("options.n", 1.5, 1, [1, 9], { integer: true })).message).toContain("an integer")
  expect(numberIn("options.p", undefined, 0.5, [0, 1])).toBe(0.5)
  expect(thrown(() => positiveNumber("options.temperature", 0, 0.1)).message).toMatch(/^options\.temperature: /)
  expect(thrown(() => seedOf("seed", 0.5)).argument).toBe("seed")
  expect(perImage("sigma", 2, 3)).toEqual([2, 2, 2])
  expect(thrown(() => perImage("sigma", [1, 2], 3)).message).toContain("3 values")
  expect(describe(t)).toBe("a tensor of shape [2, 3]")
  expect(describe("x".repeat(50))).toBe(`"${"x".repeat(40)}…"`)
  const circular: Record<string, unknown> = {}
  circular["self"] = circular
  expect(describe(circular)).toBe("a non-serialisable Object")
  tf.dispose(t)
})
