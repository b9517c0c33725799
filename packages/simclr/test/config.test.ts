import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { decodePretrainConfig, pretrainPresets, viewConfigOf } from "../src/index.ts"

describe("pretrain configs", () => {
  it.effect("every preset passes the schema; the official recipes carry the reference values", () =>
    Effect.gen(function*() {
      for (const [name, make] of Object.entries(pretrainPresets)) {
        const decoded = yield* decodePretrainConfig(make(), name)
        assert.deepStrictEqual(decoded, make())
      }
      const cifar = pretrainPresets.cifar10()
      assert.deepStrictEqual([cifar.temperature, cifar.optimizer.learningRate, cifar.optimizer.scaling, cifar.optimizer.weightDecay, cifar.encoder.stem], [0.5, 1, "linear", 1e-4, "cifar"])
      const imagenet = pretrainPresets.imagenet()
      assert.deepStrictEqual([imagenet.temperature, imagenet.optimizer.learningRate, imagenet.optimizer.scaling, imagenet.optimizer.weightDecay, imagenet.encoder.depth], [0.1, 0.075, "sqrt", 1e-6, 50])
    }))

  it.effect("a bad config names every bad option, its path and what it allows", () =>
    Effect.gen(function*() {
      const bad = { ...pretrainPresets.demo(), batchSize: 1.5, temperature: 0, optimizer: { ...pretrainPresets.demo().optimizer, name: "rmsprop" }, encoder: { depth: 19 } }
      const exit = yield* Effect.exit(decodePretrainConfig(bad, "my.json"))
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? (exit.cause.reasons[0] as { error?: { _tag: string; message: string } }).error : undefined
      assert.strictEqual(error?._tag, "InvalidConfigError")
      for (const part of ["my.json", "Expected an integer", "[\"batchSize\"]", "greater than 0", "[\"temperature\"]", "\"lars\" | \"sgd\" | \"adam\" | \"adamw\"", "[\"optimizer\"][\"name\"]", "[\"encoder\"][\"depth\"]"]) {
        assert.include(error?.message, part)
      }
    }))

  it("viewConfigOf sizes a preset's views to the config's image size", () => {
    assert.deepStrictEqual(viewConfigOf({ augment: "cifar10", imageSize: 16 }).size, [16, 16])
    assert.deepStrictEqual(viewConfigOf({ augment: "official", imageSize: 96 }).size, [96, 96])
  })
})
