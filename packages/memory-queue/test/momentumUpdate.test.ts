import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { randomNormal, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { momentumEncoder, momentumUpdate } from "../src/index.ts"
import { disposeModels, perturb, tinySimclr, valuesByName } from "./reference.ts"

/** float32 unit roundoff. */
const U = 2 ** -24

/**
 * The target's weights against θ_t ← m·θ_t + (1 − m)·θ_o computed in float64 from the float32 values
 * before the update. float32 rounds m and 1 − m (relative error ≤ u each), the two products and the sum
 * (≤ u each): |error| ≤ 4u·(|m·θ_t| + |(1 − m)·θ_o|) to first order, a few ulps relative (and relative
 * to the terms, not the sum, which may cancel). Non-trainable weights must not change at all.
 */
const expectUpdate = (
  m: number,
  before: Map<string, Float32Array>,
  online: Map<string, Float32Array>,
  after: Map<string, Float32Array>,
  trainable: ReadonlySet<string>
): void => {
  for (const [name, t] of before) {
    const got = after.get(name)!
    if (!trainable.has(name)) {
      expect({ name, values: Array.from(got) }).toEqual({ name, values: Array.from(t) })
      continue
    }
    const o = online.get(name)!
    let worst = 0
    for (let i = 0; i < t.length; i++) {
      const a = m * t[i]!
      const b = (1 - m) * o[i]!
      worst = Math.max(worst, Math.abs(got[i]! - (a + b)) / (4 * U * (Math.abs(a) + Math.abs(b)) + Number.MIN_VALUE))
    }
    expect({ name, worst: worst <= 1 }).toEqual({ name, worst: true })
  }
}

/** Two dense layers, d1 of `units` units. */
const make = (units: number): tfl.Sequential =>
  tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [3], units, name: "d1" }), tfl.layers.dense({ units: 2, name: "d2" })] })

describe("momentumUpdate", () => {
  useLeakCheck()

  it("θ_target ← m·θ_target + (1 − m)·θ_online on every trainable weight of the real model, float64 reference; moving statistics untouched", () => {
    const online = tinySimclr()
    const target = momentumEncoder(online)
    // Online and target differ everywhere: the online weights perturbed, the target's statistics moved
    // by a training-mode pass of its own.
    perturb(online.trainableWeights, 11)
    const x = randomNormal([4, 8, 8, 3], 8)
    tf.tidy(() => {
      target.apply(x, { training: true })
    })
    x.dispose()
    const trainable = new Set(online.trainableWeights.map((w) => w.originalName))
    // 12 convolutions (stem, 8 in blocks, 3 projection shortcuts) and 12 batch norms (γ, β) in the
    // encoder; 3 dense layers, 2 batch norms (γ, β) and the last one's γ in the head.
    expect(trainable.size).toBe(12 + 2 * 12 + 3 + 2 * 2 + 1)
    let before = valuesByName(target)
    const onlineValues = valuesByName(online)
    for (const m of [0.9, 0.37, 0.999]) {
      const count = tf.memory().numTensors
      momentumUpdate(target, online, m)
      expect(tf.memory().numTensors).toBe(count)
      const after = valuesByName(target)
      expectUpdate(m, before, onlineValues, after, trainable)
      // Every trainable weight changed (the update is not a no-op), the online model did not.
      expect([...trainable].filter((n) => Array.from(after.get(n)!).join() === Array.from(before.get(n)!).join())).toEqual([])
      expect(valuesByName(online)).toEqual(onlineValues)
      before = after
    }
    disposeModels(online, target)
  })

  it("m = 1 changes nothing; m = 0 copies the trainable weights exactly and leaves the statistics", () => {
    const online = tinySimclr()
    const target = momentumEncoder(online)
    perturb(online.weights, 12)
    const before = valuesByName(target)
    momentumUpdate(target, online, 1)
    expect(valuesByName(target)).toEqual(before)
    momentumUpdate(target, online, 0)
    const after = valuesByName(target)
    const onlineValues = valuesByName(online)
    for (const w of online.weights) {
      const expected = w.trainable ? onlineValues.get(w.originalName)! : before.get(w.originalName)!
      expect({ name: w.originalName, values: Array.from(after.get(w.originalName)!) }).toEqual({ name: w.originalName, values: Array.from(expected) })
    }
    // The copy shares no variable: later online changes do not reach the target.
    perturb(online.trainableWeights, 13)
    expect(valuesByName(target)).toEqual(after)
    disposeModels(online, target)
  })

  it("updates only what is trainable in the online model (a frozen encoder stays as it is)", () => {
    const online = tinySimclr()
    const target = momentumEncoder(online)
    perturb(online.weights, 14)
    const encoder = online.layers.find((l) => l.name.startsWith("resnet"))!
    encoder.trainable = false
    const frozen = new Set(encoder.weights.map((w) => w.originalName))
    const before = valuesByName(target)
    momentumUpdate(target, online, 0)
    const after = valuesByName(target)
    const changed = [...after.keys()].filter((n) => Array.from(after.get(n)!).join() !== Array.from(before.get(n)!).join())
    expect(changed.length).toBe(online.trainableWeights.length)
    expect(changed.some((n) => frozen.has(n))).toBe(false)
    disposeModels(online, target)
  })

  it("leaks nothing over 50 updates", () => {
    const online = tinySimclr()
    const target = momentumEncoder(online)
    const count = tf.memory().numTensors
    for (let i = 0; i < 50; i++) momentumUpdate(target, online, 0.99)
    expect(tf.memory().numTensors).toBe(count)
    disposeModels(online, target)
  })

  it("refuses a target of another architecture, the online model itself, shared weights and a bad m", () => {
    const online = make(4)
    const wider = make(5)
    const shorter = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [3], units: 2, name: "d1" })] })
    const other = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [3], units: 4, name: "d1" }), tfl.layers.batchNormalization({ name: "d2" })] })
    const target = momentumEncoder(online)
    expect(() => momentumUpdate(wider, online, 0.9)).toThrow(/^target: does not have the online model's architecture: weight d1\/kernel is float32 \[3, 5\], the online model's d1\/kernel is float32 \[3, 4\]/)
    expect(() => momentumUpdate(shorter, online, 0.9)).toThrow(/^target: does not have the online model's architecture: 1 layers with weights, the online model has 2/)
    expect(() => momentumUpdate(other, online, 0.9)).toThrow(/^target: does not have the online model's architecture: layer d2 is a BatchNormalization where the online model has d2, a Dense/)
    expect(() => momentumUpdate(online, online, 0.9)).toThrow(/^target: is the online model itself/)
    // Built on the online model's own layers: a Container adds a reference to each, so it is disposed first.
    const input = tfl.input({ shape: [3] })
    const sharing = tfl.model({ inputs: input, outputs: online.layers.reduce<tfl.SymbolicTensor>((h, l) => l.apply(h) as tfl.SymbolicTensor, input) })
    expect(() => momentumUpdate(sharing, online, 0.9)).toThrow(/^target: shares its weights with the online model/)
    for (const m of [1.5, -0.1, Number.NaN, Number.POSITIVE_INFINITY, "0.9"]) {
      expect(() => momentumUpdate(target, online, m as number)).toThrow(/^m: must be a number in \[0, 1\], got /)
    }
    expect(() => momentumUpdate(target, online, undefined as never)).toThrow(/^m: is required: the momentum, a number in \[0, 1\], got undefined/)
    expect(() => momentumUpdate({} as never, online, 0.9)).toThrow(/^target: expected a tfjs-layers model/)
    expect(() => momentumUpdate(target, null as never, 0.9)).toThrow(/^online: expected a tfjs-layers model/)
    disposeModels(sharing, online, wider, shorter, other, target)
    expect(() => momentumUpdate(target, online, 0.9)).toThrow(/^online: is disposed/)
  })
})
