import { assert, describe, it } from "@effect/vitest"
import { projectionHead } from "@simclr/heads"
import { randomNormal, useLeakCheck } from "@simclr/test-utils"
import * as tf from "@tensorflow/tfjs-core"
import { Effect, Option } from "effect"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll } from "vitest"
import { disposeState, lars, readLatestCheckpoint, restoreCheckpoint, trainableWeights, writeCheckpoint } from "../src/index.ts"

const root = mkdtempSync(join(tmpdir(), "simclr-checkpoint-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** A small head (dense + BN: trainable and non-trainable weights) with an optimiser state that is not zero. */
const setup = (seed: number) => {
  const model = projectionHead({ inputDim: 4, numLayers: 2, hiddenDim: 5, outputDim: 3, seed })
  const optimizer = lars()
  const weights = trainableWeights(model)
  const state = optimizer.init(weights)
  const grads = Object.fromEntries(Object.entries(weights).map(([k, w], i) => [k, randomNormal(w.shape, seed * 10 + i)]))
  const next = optimizer.update(weights, grads, state, 0.5)
  disposeState(state)
  tf.dispose([...Object.values(grads), ...Object.values(next.weights)])
  // Move the BN moving statistics away from their initial values.
  tf.tidy(() => {
    model.apply(randomNormal([6, 4], seed + 99), { training: true })
  })
  return { model, state: next.state }
}

// tfjs-layers caches a few scalars the first time a BN layer runs: warm up before the leak checks.
beforeAll(() => {
  const { model, state } = setup(0)
  disposeState(state)
  model.dispose()
})
useLeakCheck()

const values = (model: { weights: Array<{ originalName: string; read: () => tf.Tensor }> }) =>
  Object.fromEntries(model.weights.map((w) => [w.originalName, Array.from(w.read().dataSync())]))

describe("checkpoints", () => {
  it.effect("round-trip every weight (BN statistics included), the optimiser slots, the step, position and state", () =>
    Effect.gen(function*() {
      const dir = join(root, "round-trip")
      const a = setup(1)
      const path = yield* writeCheckpoint(dir, {
        step: 42,
        model: a.model,
        optimizerState: a.state,
        position: { epoch: 2, index: 64, seed: 7 },
        state: { rng: [1, 2, 3] },
        config: { temperature: 0.5 }
      })
      assert.strictEqual(path, join(dir, "step-00000042"))
      const b = setup(2)
      assert.notDeepEqual(values(b.model), values(a.model))
      const loaded = Option.getOrThrow(yield* readLatestCheckpoint(dir))
      assert.deepStrictEqual([loaded.step, loaded.position, loaded.state, loaded.config], [42, { epoch: 2, index: 64, seed: 7 }, { rng: [1, 2, 3] }, { temperature: 0.5 }])
      const restored = restoreCheckpoint(loaded, b.model)
      assert.deepStrictEqual(values(b.model), values(a.model))
      assert.strictEqual(restored.step, a.state.step)
      for (const [slot, entries] of Object.entries(a.state.slots)) {
        for (const [name, t] of Object.entries(entries)) assert.deepStrictEqual(Array.from(restored.slots[slot]![name]!.dataSync()), Array.from(t.dataSync()))
      }
      disposeState(restored)
      for (const x of [a, b]) {
        disposeState(x.state)
        x.model.dispose()
      }
    }))

  it.effect("keeps the newest K, ignores a crashed writer's temporary folder, and falls back past a damaged checkpoint", () =>
    Effect.gen(function*() {
      const dir = join(root, "keep")
      const a = setup(3)
      // A writer that crashed mid-way left a temporary folder behind.
      mkdirSync(join(dir, ".tmp-step-00000009-999999-1"), { recursive: true })
      writeFileSync(join(dir, ".tmp-step-00000009-999999-1", "tensors.bin"), "partial")
      for (const step of [10, 20, 30, 40]) yield* writeCheckpoint(dir, { step, model: a.model, optimizerState: a.state, state: { step } }, 3)
      assert.deepStrictEqual(readdirSync(dir).toSorted(), ["step-00000020", "step-00000030", "step-00000040"])
      // Damage the newest: flip one byte of its tensors.
      const bin = join(dir, "step-00000040", "tensors.bin")
      const bytes = readFileSync(bin)
      bytes[5]! ^= 0xff
      writeFileSync(bin, bytes)
      const latest = Option.getOrThrow(yield* readLatestCheckpoint(dir))
      assert.strictEqual(latest.step, 30)
      assert.isTrue(Option.isNone(yield* readLatestCheckpoint(join(root, "nothing-here"))))
      // Every checkpoint damaged: an error naming each, never a silent fresh start from step 0.
      for (const step of ["00000020", "00000030"]) writeFileSync(join(dir, `step-${step}`, "tensors.bin"), "cut")
      const all = yield* Effect.flip(readLatestCheckpoint(dir))
      assert.strictEqual(all._tag, "CheckpointError")
      for (const step of ["00000020", "00000030", "00000040"]) assert.include(all.message, `step-${step}: `)
      assert.include(all.message, "no intact checkpoint to resume from")
      disposeState(a.state)
      a.model.dispose()
    }))

  it.effect("orders checkpoints by step as a number past 8 digits (step-100000000 is newer than step-99999999)", () =>
    Effect.gen(function*() {
      const dir = join(root, "nine-digits")
      const a = setup(5)
      for (const step of [99_999_999, 100_000_000, 100_000_001]) yield* writeCheckpoint(dir, { step, model: a.model, optimizerState: a.state, state: { step } }, 2)
      // A name sort would keep step-99999999 (it sorts after step-100000001) and prune the newest.
      assert.deepStrictEqual(readdirSync(dir).toSorted(), ["step-100000000", "step-100000001"])
      assert.strictEqual(Option.getOrThrow(yield* readLatestCheckpoint(dir)).step, 100_000_001)
      disposeState(a.state)
      a.model.dispose()
    }))

  it.effect("a checkpoint that does not fit the model is refused, naming the weights", () =>
    Effect.gen(function*() {
      const dir = join(root, "mismatch")
      const a = setup(4)
      yield* writeCheckpoint(dir, { step: 1, model: a.model, optimizerState: a.state })
      const other = projectionHead({ inputDim: 4, numLayers: 2, hiddenDim: 6, outputDim: 3 })
      const loaded = Option.getOrThrow(yield* readLatestCheckpoint(dir))
      assert.throws(() => restoreCheckpoint(loaded, other), /projection_head\.0\.dense\/kernel has shape \[4,5\] in the checkpoint, \[4,6\] in the model/)
      disposeState(a.state)
      a.model.dispose()
      other.dispose()
    }))
})
