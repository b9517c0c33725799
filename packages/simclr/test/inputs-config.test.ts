/**
 * Keys a user mistypes in a config file: every struct of the config Schema rejects a key it does not
 * declare, and the message names it with its path, the key it probably meant and the allowed keys.
 */
import { assert, describe, it } from "@effect/vitest"
import { simclrView, type ViewConfig } from "@simclr/augment"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { decodePretrainConfig, nearestKey, pretrainPresets } from "../src/config.ts"

const TOP_KEYS =
  "imageSize, batchSize, epochs, seed, temperature, encoder, head, optimizer, augment, checkpointEvery, keepCheckpoints, logEvery, decodeSize, decodeConcurrency, decodeCache, trainSteps, maxSteps, examplesPerEpoch, linearProbe, chunkSize, v2"
const ENCODER_KEYS = "depth, widthMultiplier, skRatio, seRatio, stem, batchNormMomentum, batchNormEpsilon, zeroInitLastBlockGamma, shortcut, baseWidth, blocksPerGroup, seed"
const OPTIMIZER_KEYS = "name, learningRate, scaling, weightDecay, momentum, warmupEpochs"
const HEAD_KEYS = "mode, numLayers, hiddenDim, outputDim, lastBatchNormCenter, batchNormMomentum, batchNormEpsilon, seed"

/** The message of the config error `value` gives (the test fails when it decodes). */
const messageOf = (value: unknown) =>
  Effect.flip(decodePretrainConfig(value, "my.yaml")).pipe(Effect.map((error) => {
    assert.strictEqual(error._tag, "InvalidConfigError")
    return error.message
  }))

describe("unknown config keys", () => {
  it.effect("a top-level typo names the key, the key it meant and every allowed key", () =>
    Effect.gen(function*() {
      const message = yield* messageOf({ ...pretrainPresets.demo(), temprature: 0.5 })
      assert.strictEqual(message, `invalid configuration (my.yaml):\nunknown key "temprature" (did you mean "temperature"?); allowed keys: ${TOP_KEYS}\n  at ["temprature"]`)
    }))

  it.effect("a key far from every allowed one gets no suggestion", () =>
    Effect.gen(function*() {
      const message = yield* messageOf({ ...pretrainPresets.demo(), bogus: 1 })
      assert.strictEqual(message, `invalid configuration (my.yaml):\nunknown key "bogus"; allowed keys: ${TOP_KEYS}\n  at ["bogus"]`)
    }))

  it.effect("nested keys are named with their path and the allowed keys of their struct", () =>
    Effect.gen(function*() {
      const demo = pretrainPresets.demo()
      const message = yield* messageOf({
        ...demo,
        encoder: { ...demo.encoder, bogus: 1 },
        optimizer: { ...demo.optimizer, lerningRate: 0.1 },
        head: { ...demo.head, output_dim: 32 }
      })
      assert.strictEqual(
        message,
        [
          "invalid configuration (my.yaml):",
          `unknown key "encoder.bogus"; allowed keys of encoder: ${ENCODER_KEYS}`,
          `  at ["encoder"]["bogus"]`,
          `unknown key "head.output_dim" (did you mean "outputDim"?); allowed keys of head: ${HEAD_KEYS}`,
          `  at ["head"]["output_dim"]`,
          `unknown key "optimizer.lerningRate" (did you mean "learningRate"?); allowed keys of optimizer: ${OPTIMIZER_KEYS}`,
          `  at ["optimizer"]["lerningRate"]`
        ].join("\n")
      )
    }))

  it.effect("unknown keys are reported with the other bad values of the same config", () =>
    Effect.gen(function*() {
      const message = yield* messageOf({ ...pretrainPresets.demo(), batch_size: 64, temperature: 0 })
      assert.include(message, `unknown key "batch_size" (did you mean "batchSize"?); allowed keys: ${TOP_KEYS}\n  at ["batch_size"]`)
      assert.include(message, `Expected a value greater than 0\n  at ["temperature"]`)
    }))

  it.effect("the v2 block: a typo names its key and the v2 keys, a momentum outside [0, 1] and an unknown positives are named", () =>
    Effect.gen(function*() {
      const message = yield* messageOf({ ...pretrainPresets["fashion-mnist-v2"](), v2: { queSize: 4096, momentum: 1.5, positives: "keys" } })
      assert.include(message, `unknown key "v2.queSize" (did you mean "queueSize"?); allowed keys of v2: queueSize, momentum, momentumSchedule, positives\n  at ["v2"]["queSize"]`)
      assert.include(message, `Expected a value between 0 and 1\n  at ["v2"]["momentum"]`)
      assert.include(message, `Expected "online" | "momentum"\n  at ["v2"]["positives"]`)
      assert.include(message, `Missing key\n  at ["v2"]["queueSize"]`)
    }))

  it.effect("a config with only declared keys still decodes, an augment object keeps its own keys", () =>
    Effect.gen(function*() {
      const demo = pretrainPresets.demo()
      assert.deepStrictEqual(yield* decodePretrainConfig(demo), demo)
      const official = { ...pretrainPresets.imagenet(), augment: { size: [224, 224] as [number, number], flip: 0.5 } }
      assert.deepStrictEqual(yield* decodePretrainConfig(official), official)
    }))

  it("nearestKey suggests only a key within two edits and a third of the key's length", () => {
    const keys = ["temperature", "batchSize", "seed", "epochs", "depth"]
    assert.deepStrictEqual(
      ["temprature", "batch_size", "batch-size", "seeds", "dept", "bogus", "sed", "x", "epochz", "tempera"].map((k) => nearestKey(k, keys)),
      ["temperature", "batchSize", "batchSize", "seed", "depth", undefined, "seed", undefined, "epochs", undefined]
    )
  })
})

/** The keys an error message lists after `marker` (quoted or not), in order. */
const listedKeys = (message: string, marker: RegExp): Array<string> => {
  const list = marker.exec(message)?.[1]
  assert.isDefined(list, message)
  return list!.split(", ").map((k) => k.replaceAll('"', ""))
}

describe("unknown augment keys", () => {
  it.effect("a mistyped key of the augment object, its crop, color or blur is named with its path, the key meant and the allowed keys", () =>
    Effect.gen(function*() {
      const demo = pretrainPresets.demo()
      const augment = demo.augment as unknown as Record<string, Record<string, unknown>>
      const message = yield* messageOf({ ...demo, augment: { ...augment, flipp: 0.5, crop: { ...augment["crop"], methd: "bicubic" }, color: { strenght: 1 }, blur: { sigma: [0.1, 2], bogus: 1 } } })
      assert.strictEqual(
        message,
        [
          "invalid configuration (my.yaml):",
          `unknown key "augment.flipp" (did you mean "flip"?); allowed keys of augment: size, crop, flip, color, blur, validateRange`,
          `  at ["augment"]["flipp"]`,
          `unknown key "augment.crop.methd" (did you mean "method"?); allowed keys of augment.crop: sampler, area, ratio, minObjectCovered, maxAttempts, method, style`,
          `  at ["augment"]["crop"]["methd"]`,
          `unknown key "augment.color.strenght" (did you mean "strength"?); allowed keys of augment.color: strength, p, grayscaleP, brightness, style, randomOrder`,
          `  at ["augment"]["color"]["strenght"]`,
          `unknown key "augment.blur.bogus"; allowed keys of augment.blur: p, sigma, kernelFraction, padding, sigmaPer`,
          `  at ["augment"]["blur"]["bogus"]`
        ].join("\n")
      )
      // A preset name or false/"center" where the augment allows them still decodes.
      for (const value of ["official", { size: [8, 8], crop: "center", color: false, blur: false }]) {
        assert.deepStrictEqual((yield* decodePretrainConfig({ ...demo, augment: value })).augment as unknown, value)
      }
    }))

  it.effect("the keys allowed at each level are the ones @simclr/augment accepts", () =>
    Effect.gen(function*() {
      const images = tf.zeros([1, 8, 8, 3])
      for (const level of [undefined, "crop", "color", "blur"]) {
        const augment = level === undefined ? { size: [8, 8], zzz: 1 } : { size: [8, 8], [level]: { zzz: 1 } }
        let theirs: Array<string> = []
        try {
          simclrView(images, augment as unknown as ViewConfig, 0).dispose()
        } catch (error) {
          theirs = listedKeys(String(error), /known options are (.*)$/)
        }
        const ours = listedKeys(yield* messageOf({ ...pretrainPresets.demo(), augment }), /allowed keys of [\w.]+: (.*)\n/)
        assert.deepStrictEqual(ours, theirs, `augment${level === undefined ? "" : `.${level}`}`)
      }
      images.dispose()
    }))
})
