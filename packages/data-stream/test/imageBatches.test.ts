import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Stream } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import {
  epochPermutation,
  fromArray,
  fromDirectory,
  fromIterable,
  type ImageBatch,
  type ImageBatchOptions,
  imageBatches,
  type IndexedSource,
  type RawImage,
  type Source,
  toAsyncIterable
} from "../src/index.ts"
import { encode, patternPixels, solid, useTempDir, writeFile } from "./fixtures.ts"

const tmp = useTempDir()

/** n 2×2 RGB images; image i is filled with the value i, its label is i mod 3. */
const numbered = (n: number): IndexedSource =>
  fromArray(
    Array.from({ length: n }, (_v, i) => ({ image: { pixels: new Uint8Array(12).fill(i), width: 2, height: 2, channels: 3 } satisfies RawImage, label: i % 3 })),
    { name: "numbered" }
  )

const collect = <E>(source: Source | Effect.Effect<Source, E>, options: ImageBatchOptions) => Stream.runCollect(imageBatches(source, options))

const epochEnd = (bs: ReadonlyArray<ImageBatch>, e: number) => bs.filter((b) => b.epoch === e).at(-1)!.stats

/** The image numbers in a batch (each image's first byte). */
const numbersOf = (b: ImageBatch): Array<number> => Array.from({ length: b.size }, (_v, i) => b.images[i * b.height * b.width * 3]!)

const failureOf = <A, E>(exit: Exit.Exit<A, E>): (E & { _tag: string; message: string }) | undefined =>
  Exit.isFailure(exit) ? (exit.cause.reasons[0] as { error?: E & { _tag: string; message: string } } | undefined)?.error : undefined

describe("epochPermutation", () => {
  it("is a permutation, a function of (seed, epoch), and uniform", () => {
    const a = epochPermutation(50, 7, 0)
    assert.deepStrictEqual([...a].toSorted((x, y) => x - y), Array.from({ length: 50 }, (_v, i) => i))
    assert.deepStrictEqual(epochPermutation(50, 7, 0), a)
    assert.notDeepEqual([...epochPermutation(50, 7, 1)], [...a])
    assert.notDeepEqual([...epochPermutation(50, 8, 0)], [...a])
    // Where element 0 lands over 4,000 (seed, epoch) pairs, in 5 slots of a 5-permutation: each slot
    // expects 800; the chi-square statistic (4 degrees of freedom) stays below 18.5 with probability 0.999.
    const counts = [0, 0, 0, 0, 0]
    for (let s = 0; s < 4000; s++) counts[epochPermutation(5, s, s % 3).indexOf(0)]!++
    const chi2 = counts.reduce((sum, c) => sum + (c - 800) ** 2 / 800, 0)
    assert.isBelow(chi2, 18.5, `slot counts ${counts}`)
  })
})

describe("imageBatches", () => {
  it.effect("covers every image exactly once per epoch, in a seeded order that changes every epoch", () =>
    Effect.gen(function*() {
      const batches = yield* collect(numbered(37), { batchSize: 8, imageSize: 2, epochs: 3, seed: 5 })
      assert.deepStrictEqual(batches.map((b) => b.size), [8, 8, 8, 8, 5, 8, 8, 8, 8, 5, 8, 8, 8, 8, 5])
      const epochs = [0, 1, 2].map((e) => batches.filter((b) => b.epoch === e).flatMap(numbersOf))
      for (const order of epochs) assert.deepStrictEqual(order.toSorted((a, b) => a - b), Array.from({ length: 37 }, (_v, i) => i))
      assert.notDeepEqual(epochs[0], epochs[1])
      assert.deepStrictEqual(epochs[1], [...epochPermutation(37, 5, 1)])
      // Labels and ids travel with their images.
      for (const b of batches) {
        assert.deepStrictEqual([...b.labels!], numbersOf(b).map((n) => n % 3))
        assert.deepStrictEqual(b.ids, numbersOf(b).map((n) => `numbered#${n}`))
        assert.deepStrictEqual(b.classes, ["0", "1", "2"])
      }
      const again = yield* collect(numbered(37), { batchSize: 8, imageSize: 2, epochs: 3, seed: 5 })
      assert.deepStrictEqual(again.map(numbersOf), batches.map(numbersOf))
      const other = yield* collect(numbered(37), { batchSize: 8, imageSize: 2, epochs: 1, seed: 6 })
      assert.notDeepEqual(other.flatMap(numbersOf), epochs[0])
    }))

  it.effect("shuffle: false keeps the source order; dropRemainder drops each epoch's short batch", () =>
    Effect.gen(function*() {
      const ordered = yield* collect(numbered(10), { batchSize: 4, imageSize: 2, shuffle: false })
      assert.deepStrictEqual(ordered.map(numbersOf), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
      const dropped = yield* collect(numbered(10), { batchSize: 4, imageSize: 2, epochs: 2, dropRemainder: true })
      assert.deepStrictEqual(dropped.map((b) => [b.epoch, b.size]), [[0, 4], [0, 4], [1, 4], [1, 4]])
    }))

  it.effect("resuming from any batch's position gives exactly the batches that followed it", () =>
    Effect.gen(function*() {
      const options = { batchSize: 6, imageSize: 2, epochs: 3, seed: 11 }
      const full = yield* collect(numbered(23), options)
      for (let k = 0; k < full.length; k++) {
        const resumed = yield* collect(numbered(23), { ...options, start: full[k]!.position })
        assert.deepStrictEqual(resumed.map(numbersOf), full.slice(k + 1).map(numbersOf), `after batch ${k}`)
        assert.deepStrictEqual(resumed.map((b) => b.position), full.slice(k + 1).map((b) => b.position))
      }
      const exit = yield* Effect.exit(collect(numbered(23), { ...options, start: { ...full[0]!.position, seed: 12 } }))
      assert.strictEqual(failureOf(exit)?._tag, "InvalidOptionError")
      assert.include(failureOf(exit)?.message, "start.seed")
    }))

  it.effect("stream sources: a seeded shuffle buffer, replayed per epoch, resumable", () =>
    Effect.gen(function*() {
      const images = Array.from({ length: 30 }, (_v, i) => ({ pixels: new Uint8Array(12).fill(i), width: 2, height: 2, channels: 3 }) satisfies RawImage)
      async function* produce() {
        for (const img of images) yield img
      }
      const options = { batchSize: 7, imageSize: 2, epochs: 2, seed: 3, shuffleBuffer: 8 }
      const full = yield* collect(fromIterable(produce), options)
      const epochs = [0, 1].map((e) => full.filter((b) => b.epoch === e).flatMap(numbersOf))
      for (const order of epochs) assert.deepStrictEqual(order.toSorted((a, b) => a - b), Array.from({ length: 30 }, (_v, i) => i))
      assert.notDeepEqual(epochs[0], epochs[1])
      assert.notDeepEqual(epochs[0], Array.from({ length: 30 }, (_v, i) => i))
      // A buffer of 8 can move an image at most 7 places earlier than its arrival.
      epochs[0]!.forEach((n, position) => assert.isAtLeast(position, n - 7))
      const resumed = yield* collect(fromIterable(produce), { ...options, start: full[3]!.position })
      assert.deepStrictEqual(resumed.map(numbersOf), full.slice(4).map(numbersOf))
      const once = yield* Effect.exit(collect(fromIterable(produce()), options))
      assert.strictEqual(failureOf(once)?._tag, "InvalidOptionError")
      assert.include(failureOf(once)?.message, "epochs")
    }))

  it.live("backpressure: a slow consumer keeps the decoded-but-unconsumed images under a fixed bound", () =>
    Effect.gen(function*() {
      let rendered = 0
      const source: IndexedSource = {
        ...numbered(1),
        name: "counting",
        size: 400,
        classes: undefined,
        item: (i) => ({
          id: `counting#${i}`,
          label: undefined,
          image: {
            kind: "lazy",
            render: () => {
              rendered++
              return { pixels: new Uint8Array(12).fill(i % 256), width: 2, height: 2, channels: 3 }
            }
          }
        })
      }
      const batchSize = 4
      const prefetch = 2
      const concurrency = 3
      let consumed = 0
      let worst = 0
      yield* Stream.runForEach(imageBatches(source, { batchSize, imageSize: 2, prefetch, concurrency }), (b) =>
        Effect.gen(function*() {
          worst = Math.max(worst, rendered - consumed)
          yield* Effect.sleep("3 millis")
          consumed += b.size
        }))
      assert.strictEqual(consumed, 400)
      // Ahead of the consumer at most: the batch in hand, `prefetch` buffered batches, one emitted by the
      // batcher and one being assembled, and `concurrency` decodes in flight.
      const bound = (prefetch + 3) * batchSize + concurrency
      assert.isAtMost(worst, bound, `rendered ahead of the consumer: ${worst}`)
      assert.isAtLeast(worst, prefetch * batchSize, "the prefetch buffer was used")
    }))

  it.effect("corrupt, truncated, empty and non-image files are skipped, counted and reported with their paths", () =>
    Effect.gen(function*() {
      const root = join(tmp(), "bad-files")
      const good = yield* Effect.promise(() => encode(patternPixels(12, 16), 16, 12, "jpeg"))
      for (let i = 0; i < 9; i++) writeFile(join(root, `good${i}.jpg`), good)
      const bad = [
        writeFile(join(root, "truncated.jpg"), good.subarray(0, good.length >> 1)),
        writeFile(join(root, "empty.png"), new Uint8Array(0)),
        writeFile(join(root, "text.webp"), "not an image at all")
      ]
      const batches = yield* collect(fromDirectory(root), { batchSize: 4, imageSize: 8, maxFailureFraction: 0.5 })
      assert.strictEqual(batches.reduce((n, b) => n + b.size, 0), 9)
      assert.deepStrictEqual(batches.at(-1)!.stats, { attempted: 12, loaded: 9, skipped: 3, fromCache: 0 })
      const skipped = batches.flatMap((b) => b.skipped)
      assert.deepStrictEqual(skipped.map((e) => e.id).toSorted(), bad.toSorted())
      for (const e of skipped) assert.isAbove(e.reason.length, 0)

      const exit = yield* Effect.exit(collect(fromDirectory(root), { batchSize: 4, imageSize: 8, maxFailureFraction: 0.2 }))
      const failure = failureOf(exit)
      assert.strictEqual(failure?._tag, "TooManyFailuresError")
      assert.include(failure?.message, "3 of 12 images failed")
      assert.include(failure?.message, "truncated.jpg")
    }))

  it.effect("an empty source, a bad option, or a cache on a stream source fail with errors naming them", () =>
    Effect.gen(function*() {
      const empty = failureOf(yield* Effect.exit(collect(fromArray([]), { batchSize: 2, imageSize: 2 })))
      assert.strictEqual(empty?._tag, "EmptyDatasetError")
      const cases: Array<[Partial<ImageBatchOptions>, string]> = [
        [{ batchSize: 0 }, "batchSize"],
        [{ imageSize: [2, 0] }, "imageSize"],
        [{ fit: "stretch" as never }, "fit"],
        [{ epochs: 0 }, "epochs"],
        [{ concurrency: 1.5 }, "concurrency"],
        [{ prefetch: 0 }, "prefetch"],
        [{ maxFailureFraction: 2 }, "maxFailureFraction"],
        [{ seed: -1 }, "seed"]
      ]
      for (const [patch, option] of cases) {
        const error = failureOf(yield* Effect.exit(collect(numbered(3), { batchSize: 2, imageSize: 2, ...patch })))
        assert.strictEqual(error?._tag, "InvalidOptionError", option)
        assert.match(error!.message, new RegExp(`^${option}: got .*; allowed: `))
      }
      const cached = failureOf(yield* Effect.exit(collect(fromIterable([new Uint8Array(1)]), { batchSize: 2, imageSize: 2, cache: join(tmp(), "x.cache") })))
      assert.strictEqual(cached?._tag, "InvalidOptionError")
    }))

  it.effect("the decode cache serves later epochs and later runs, survives damaged records, and is rebuilt when options change", () =>
    Effect.gen(function*() {
      const root = join(tmp(), "cached")
      for (let i = 0; i < 12; i++) writeFile(join(root, `${i}.png`), yield* Effect.promise(() => encode(patternPixels(20, 30, i), 30, 20)))
      writeFile(join(root, "broken.png"), "broken")
      const cache = join(tmp(), "decoded.cache")
      const options = { batchSize: 5, imageSize: 10, epochs: 2, seed: 1, cache }
      const plain = yield* collect(fromDirectory(root), { ...options, cache: undefined })
      const first = yield* collect(fromDirectory(root), options)
      assert.deepStrictEqual(epochEnd(first, 0), { attempted: 13, loaded: 12, skipped: 1, fromCache: 0 })
      assert.deepStrictEqual(epochEnd(first, 1), { attempted: 26, loaded: 24, skipped: 2, fromCache: 13 })
      // Cached bytes equal freshly decoded ones, batch for batch.
      assert.deepStrictEqual(first.map((b) => [...b.images]), plain.map((b) => [...b.images]))
      assert.deepStrictEqual(first.flatMap((b) => b.skipped.map((e) => e.reason)), plain.flatMap((b) => b.skipped.map((e) => e.reason)))

      const rerun = yield* collect(fromDirectory(root), { ...options, epochs: 1 })
      assert.strictEqual(rerun.at(-1)!.stats.fromCache, 13)

      // Damage one record's pixels: its checksum fails, it is decoded again, the output is unchanged.
      const bytes = readFileSync(cache)
      const recordSize = 8 + 10 * 10 * 3
      bytes[64 + 13 + 3 * recordSize + 100]! ^= 0xff
      writeFileSync(cache, bytes)
      const repaired = yield* collect(fromDirectory(root), { ...options, epochs: 1 })
      assert.strictEqual(repaired.at(-1)!.stats.fromCache, 12)
      assert.deepStrictEqual(repaired.map((b) => [...b.images]), plain.filter((b) => b.epoch === 0).map((b) => [...b.images]))

      const resized = yield* collect(fromDirectory(root), { ...options, epochs: 1, imageSize: 8 })
      assert.strictEqual(resized.at(-1)!.stats.fromCache, 0)
    }))

  it.effect("works through toAsyncIterable for code without Effect", () =>
    Effect.promise(async () => {
      const sizes: Array<number> = []
      for await (const b of toAsyncIterable(imageBatches(numbered(9), { batchSize: 4, imageSize: 2 }))) sizes.push(b.size)
      assert.deepStrictEqual(sizes, [4, 4, 1])
      let error: unknown
      try {
        for await (const batch of toAsyncIterable(imageBatches(fromDirectory(join(tmp(), "missing")), { batchSize: 4, imageSize: 2 }))) sizes.push(batch.size)
      } catch (e) {
        error = e
      }
      assert.match(String((error as Error).message), /dataset not found: .*missing/)
    }))

  it.effect("decodes real files of mixed sizes to one batch shape", () =>
    Effect.gen(function*() {
      const root = join(tmp(), "mixed-sizes")
      writeFile(join(root, "a.png"), yield* Effect.promise(() => solid(500, 375, { r: 250, g: 0, b: 0 })))
      writeFile(join(root, "b.jpg"), yield* Effect.promise(() => solid(64, 200, { r: 0, g: 250, b: 0 }, "jpeg")))
      writeFile(join(root, "c.webp"), yield* Effect.promise(() => solid(31, 17, { r: 0, g: 0, b: 250 }, "webp")))
      const [batch] = yield* collect(fromDirectory(root), { batchSize: 3, imageSize: [24, 32], shuffle: false })
      assert.deepStrictEqual([batch!.size, batch!.height, batch!.width, batch!.images.length], [3, 24, 32, 3 * 24 * 32 * 3])
      // Image k is dominated by channel k.
      for (let k = 0; k < 3; k++) {
        const first = batch!.images.subarray(k * 24 * 32 * 3, (k * 24 * 32 + 1) * 3)
        assert.strictEqual([...first].indexOf(Math.max(...first)), k)
      }
    }))
})
