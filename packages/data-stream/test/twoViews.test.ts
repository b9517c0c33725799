import { assert, describe, it } from "@effect/vitest"
import { augmentPresets, twoViews } from "@simclr/augment"
import { useLeakCheck } from "@simclr/test-utils"
import * as tf from "@tensorflow/tfjs-core"
import { Effect, Stream } from "effect"
import { batchSeed, type ImageBatch, imageBatches, makeTwoViews, synthetic, toTensors, twoViewBatches } from "../src/index.ts"

useLeakCheck()

const firstBatch = (seed = 0) =>
  Stream.runHead(imageBatches(synthetic({ size: 6, seed: 2 }), { batchSize: 4, imageSize: 16, seed })).pipe(
    Effect.map((head) => {
      if (head._tag !== "Some") throw new Error("no batch")
      return head.value
    })
  )

const config = augmentPresets.cifar10()
const at = (epoch: number, start: number, seed: number) => batchSeed({ epoch, start, position: { epoch, index: start + 4, seed } } as ImageBatch)

describe("tensors at the consumer", () => {
  it.effect("toTensors: float32 bytes / 255 in NHWC, int32 labels", () =>
    Effect.gen(function*() {
      const batch = yield* firstBatch()
      const { images, labels } = toTensors(batch)
      assert.deepStrictEqual(images.shape, [4, 16, 16, 3])
      assert.strictEqual(images.dtype, "float32")
      const values = images.dataSync()
      // Exact: k / 255 in float32 is what Math.fround gives.
      for (let i = 0; i < values.length; i += 97) assert.strictEqual(values[i], Math.fround(batch.images[i]! / 255))
      assert.deepStrictEqual([...labels!.dataSync()], [...batch.labels!])
      assert.strictEqual(labels!.dtype, "int32")
      tf.dispose([images, labels!])
    }))

  it.effect("makeTwoViews equals @simclr/augment's twoViews with the batch's seed, and frees its tensors", () =>
    Effect.gen(function*() {
      const batch = yield* firstBatch()
      const views = makeTwoViews(batch, config)
      const { images, labels } = toTensors(batch)
      const [a, b] = twoViews(images, config, batchSeed(batch))
      assert.deepStrictEqual(views.view1.shape, [4, 32, 32, 3])
      assert.deepStrictEqual([...views.view1.dataSync()], [...a.dataSync()])
      assert.deepStrictEqual([...views.view2.dataSync()], [...b.dataSync()])
      assert.notDeepEqual([...views.view1.dataSync()], [...views.view2.dataSync()])
      tf.dispose([images, labels!, a, b])
      views.dispose()
    }))

  it("batchSeed depends on the seed, the epoch and the batch's start, nothing else", () => {
    const seeds = new Set([at(0, 0, 1), at(1, 0, 1), at(0, 4, 1), at(0, 0, 2)])
    assert.strictEqual(seeds.size, 4)
    assert.strictEqual(at(3, 8, 1), at(3, 8, 1))
    assert.isTrue(Number.isSafeInteger(at(3, 8, 1)) && at(3, 8, 1) >= 0)
  })

  it.effect("twoViewBatches makes views batch by batch as the consumer pulls", () =>
    Effect.gen(function*() {
      const shapes: Array<Array<number>> = []
      yield* imageBatches(synthetic({ size: 6 }), { batchSize: 4, imageSize: 16, seed: 3 }).pipe(
        twoViewBatches({ augment: config }),
        Stream.runForEach((views) =>
          Effect.sync(() => {
            shapes.push([...views.view1.shape, views.labels!.size, views.batch.size])
            views.dispose()
          })
        )
      )
      assert.deepStrictEqual(shapes, [[4, 32, 32, 3, 4, 4], [2, 32, 32, 3, 2, 2]])
    }))
})
