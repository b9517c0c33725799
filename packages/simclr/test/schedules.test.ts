import { describe, expect, it } from "vitest"
import { scaledLearningRate, scheduleSteps, warmupCosine } from "../src/index.ts"

describe("learning-rate schedule (official WarmUpAndCosineDecay)", () => {
  it("scales the base rate linearly (B/256) or by √B", () => {
    expect(scaledLearningRate(0.3, 4096, "linear")).toBeCloseTo(4.8, 12)
    expect(scaledLearningRate(0.075, 4096, "sqrt")).toBeCloseTo(4.8, 12)
    expect(scaledLearningRate(1, 512, "linear")).toBe(2)
    expect(() => scaledLearningRate(1, 512, "cube" as never)).toThrow(/^learningRateScaling: got "cube"; allowed: "linear", "sqrt"/)
    expect(() => scaledLearningRate(1, 0, "linear")).toThrow(/^batchSize:/)
  })

  it("counts steps as the official code: warm-up round(warmupEpochs·N // B), total N·epochs // B + 1", () => {
    // CIFAR-10 recipe: N 50,000, B 512, 1000 epochs, warm-up 10 epochs.
    expect(scheduleSteps({ learningRate: 1, scaling: "linear", batchSize: 512, examples: 50_000, epochs: 1000 })).toEqual({ warmupSteps: 976, totalSteps: 97_657 })
    expect(scheduleSteps({ learningRate: 1, scaling: "linear", batchSize: 100, examples: 1000, epochs: 3, warmupEpochs: 0.5 })).toEqual({ warmupSteps: 5, totalSteps: 31 })
  })

  it("warms up linearly from 0, then decays by a half cosine to 0 and stays there", () => {
    // N 1000, B 100 → warm-up 10 steps, total 31; scaled lr = 2·100/256.
    const lr = warmupCosine({ learningRate: 2, scaling: "linear", batchSize: 100, examples: 1000, epochs: 3, warmupEpochs: 1 })
    const peak = (2 * 100) / 256
    expect(lr(0)).toBe(0)
    expect(lr(5)).toBeCloseTo(peak / 2, 12)
    expect(lr(10)).toBeCloseTo(peak, 12)
    // Halfway through the decay (t = 10.5 of T = 21) the cosine term is ½.
    expect(lr(20.5)).toBeCloseTo(peak / 2, 12)
    expect(lr(31)).toBeCloseTo(0, 12)
    expect(lr(50)).toBeCloseTo(0, 12)
    for (let s = 11; s < 31; s++) expect(lr(s)).toBeLessThan(lr(s - 1))
  })
})
