import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import { Effect, Exit } from "effect"
import { availableParallelism } from "node:os"
import { onednnStatus } from "@simclr/backend-onednn"
import { selectBackend } from "../src/index.ts"

describe("selectBackend", () => {
  it.effect("cpu on request; gradients of every op registered", () =>
    Effect.gen(function*() {
      const selected = yield* selectBackend("cpu")
      assert.deepStrictEqual([selected.name, selected.package, tf.getBackend()], ["cpu", "@tensorflow/tfjs-backend-cpu", "cpu"])
      // Mean has no gradient in tfjs-core until register_all_gradients runs.
      const g = tf.grad((x: tf.Tensor) => tf.mean(x))(tf.ones([4]))
      assert.deepStrictEqual(Array.from(g.dataSync()), [0.25, 0.25, 0.25, 0.25])
      g.dispose()
    }))

  it.effect("auto skips the native backends that are not installed and says so", () =>
    Effect.gen(function*() {
      const selected = yield* selectBackend("auto")
      // tfjs-node(-gpu) cannot be installed on the development and CI machines; the oneDNN backend is
      // taken where its addon was built (CI installs oneDNN), wasm otherwise.
      assert.match(selected.reason, /skipped @tensorflow\/tfjs-node-gpu \(not installed\); @tensorflow\/tfjs-node \(not installed\)/)
      const onednn = onednnStatus()
      if (onednn.available) assert.strictEqual(selected.name, "onednn")
      else assert.include(selected.reason, `@simclr/backend-onednn (${onednn.reason}`)
      assert.strictEqual(selected.name, onednn.available ? "onednn" : "wasm")
      yield* selectBackend("cpu")
    }))

  it.effect("wasm on request runs its threaded SIMD build with every core (at most 8) and says so", () =>
    Effect.gen(function*() {
      const selected = yield* selectBackend("wasm")
      assert.strictEqual(selected.name, "wasm")
      // Under SIMCLR_TEST_BACKEND=wasm the test setup started tfjs's own build first, and it says that.
      const cores = Math.min(8, availableParallelism())
      const preStarted = process.env["SIMCLR_TEST_BACKEND"] === "wasm"
      assert.strictEqual(selected.threads, preStarted ? 1 : cores)
      assert.include(selected.reason, preStarted ? "tfjs's stock build, 1 thread (wasm was started before selectBackend" : `threaded SIMD build, ${cores} thread${cores === 1 ? "" : "s"}`)
      yield* selectBackend("cpu")
    }))

  it.effect("a requested backend that is not installed fails with the install command", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(selectBackend("tensorflow"))
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? (exit.cause.reasons[0] as { error?: { _tag: string; message: string } }).error : undefined
      assert.strictEqual(error?._tag, "BackendUnavailableError")
      assert.include(error?.message, "npm install @tensorflow/tfjs-node@")
      yield* selectBackend("cpu")
    }))

  it.effect("a bad wasm thread count names the option and the range", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(selectBackend("auto", { wasmThreads: 0 }))
      const error = Exit.isFailure(exit) ? (exit.cause.reasons[0] as { error?: { _tag: string; message: string } }).error : undefined
      assert.strictEqual(error?._tag, "InvalidBackendOptionError")
      assert.strictEqual(error?.message, "wasmThreads: expected an integer from 1 to 8, got 0")
    }))
})
