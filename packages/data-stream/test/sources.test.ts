import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import {
  CIFAR10_CLASSES,
  FASHION_MNIST_CLASSES,
  fromArray,
  fromCifar,
  fromCsv,
  fromDirectory,
  fromGlob,
  fromIdx,
  fromIterable,
  type IndexedSource,
  parseCsv,
  type RawImage
} from "../src/index.ts"
import { idxBytes, solid, useTempDir, writeFile } from "./fixtures.ts"

const tmp = useTempDir()
const png = () => solid(4, 4, { r: 1, g: 2, b: 3 })

const failureTag = <A, E extends { _tag: string }>(exit: Exit.Exit<A, E>): string | undefined =>
  Exit.isFailure(exit) ? (exit.cause.reasons[0] as { error?: { _tag: string } } | undefined)?.error?._tag : undefined
const failureMessage = <A, E>(exit: Exit.Exit<A, E>): string =>
  Exit.isFailure(exit) ? String((exit.cause.reasons[0] as { error?: { message: string } } | undefined)?.error?.message) : ""

const rel = (src: IndexedSource, root: string) => Array.from({ length: src.size }, (_v, i) => src.item(i).id.slice(root.length + 1))

describe("fromDirectory", () => {
  it.effect("labels by sub-folder, classes sorted; hidden files ignored; extensions case-insensitive", () =>
    Effect.gen(function*() {
      const root = join(tmp(), "folders")
      const bytes = yield* Effect.promise(png)
      for (const f of ["zebra/1.png", "zebra/2.JPG", "ant/deep/3.PnG", "ant/4.webp", "cat/.hidden.png", ".git/5.png", "cat/6.jpeg", "cat/notes.txt"]) {
        writeFile(join(root, f), bytes)
      }
      const src = yield* fromDirectory(root)
      assert.deepStrictEqual(src.classes, ["ant", "cat", "zebra"])
      assert.deepStrictEqual(rel(src, root), ["ant/4.webp", "ant/deep/3.PnG", "cat/6.jpeg", "zebra/1.png", "zebra/2.JPG"])
      assert.deepStrictEqual(Array.from({ length: src.size }, (_v, i) => src.item(i).label), [0, 0, 1, 2, 2])
    }))

  it.effect("a flat folder is unlabeled; a mixed one is an error unless labels is given", () =>
    Effect.gen(function*() {
      const root = join(tmp(), "mixed")
      const bytes = yield* Effect.promise(png)
      writeFile(join(root, "top.png"), bytes)
      writeFile(join(root, "a/x.png"), bytes)
      const flat = join(tmp(), "flat")
      writeFile(join(flat, "b.png"), bytes)
      writeFile(join(flat, "a.png"), bytes)
      const unlabeled = yield* fromDirectory(flat)
      assert.strictEqual(unlabeled.classes, undefined)
      assert.deepStrictEqual(rel(unlabeled, flat), ["a.png", "b.png"])
      const exit = yield* Effect.exit(fromDirectory(root))
      assert.strictEqual(failureTag(exit), "InvalidOptionError")
      assert.include(failureMessage(exit), "1 images at its top level and 1 in sub-folders")
      assert.strictEqual((yield* fromDirectory(root, { labels: "none" })).size, 2)
      const byFolder = yield* fromDirectory(root, { labels: "folders" })
      assert.deepStrictEqual([byFolder.size, byFolder.classes], [1, ["a"]])
    }))

  it.effect("follows symbolic links without looping", () =>
    Effect.gen(function*() {
      const root = join(tmp(), "links")
      const outside = join(tmp(), "outside")
      const bytes = yield* Effect.promise(png)
      writeFile(join(root, "a/1.png"), bytes)
      writeFile(join(outside, "2.png"), bytes)
      symlinkSync(join(root, "a"), join(root, "a", "loop")) // a/loop → a: a cycle
      symlinkSync(root, join(root, "a", "up")) // a/up → the root: another cycle
      symlinkSync(outside, join(root, "b")) // a linked class folder
      symlinkSync(join(outside, "2.png"), join(root, "a", "linked.png")) // a linked file
      symlinkSync("/nonexistent/x.png", join(root, "a", "broken.png")) // a broken link
      const src = yield* fromDirectory(root)
      assert.deepStrictEqual(rel(src, root), ["a/1.png", "a/linked.png", "b/2.png"])
      assert.deepStrictEqual(src.classes, ["a", "b"])
    }))

  it.effect("a missing folder, a file, and an empty folder fail clearly", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.exit(fromDirectory(join(tmp(), "nope")))
      assert.strictEqual(failureTag(missing), "DatasetNotFoundError")
      assert.include(failureMessage(missing), "nope")
      const file = writeFile(join(tmp(), "file.png"), "x")
      assert.strictEqual(failureTag(yield* Effect.exit(fromDirectory(file))), "DatasetNotFoundError")
      const empty = join(tmp(), "empty")
      mkdirSync(empty)
      writeFileSync(join(empty, "readme.txt"), "no images here")
      assert.strictEqual(failureTag(yield* Effect.exit(fromDirectory(empty))), "EmptyDatasetError")
      assert.strictEqual(failureTag(yield* Effect.exit(fromDirectory(empty, { labels: "sideways" as never }))), "InvalidOptionError")
    }))

  it.effect("fromGlob takes fast-glob patterns", () =>
    Effect.gen(function*() {
      const root = join(tmp(), "glob")
      const bytes = yield* Effect.promise(png)
      for (const f of ["x/a.png", "x/b.jpg", "y/c.png"]) writeFile(join(root, f), bytes)
      const src = yield* fromGlob("**/*.png", { cwd: root })
      assert.deepStrictEqual(rel(src, root), ["x/a.png", "y/c.png"])
      assert.strictEqual(failureTag(yield* Effect.exit(fromGlob("**/*.gif", { cwd: root }))), "EmptyDatasetError")
    }))
})

describe("fromCsv", () => {
  it("parses quotes, doubled quotes, CRLF and a missing final newline", () => {
    assert.deepStrictEqual(parseCsv("a,b\r\n\"c,d\",\"e \"\"f\"\"\"\ng"), [["a", "b"], ["c,d", "e \"f\""], ["g"]])
  })

  it.effect("reads path,label rows relative to the CSV, with a header; numeric classes sort numerically", () =>
    Effect.gen(function*() {
      const root = join(tmp(), "csv")
      const csv = writeFile(join(root, "list.csv"), "path,label\nimg/a.png,10\n\"img/b, c.png\",2\n/abs/d.png,10\nimg/e.png,\n")
      const src = yield* fromCsv(csv)
      assert.deepStrictEqual(src.classes, ["2", "10"])
      assert.deepStrictEqual(Array.from({ length: 4 }, (_v, i) => [src.item(i).id, src.item(i).label]), [
        [join(root, "img/a.png"), 1],
        [join(root, "img/b, c.png"), 0],
        ["/abs/d.png", 1],
        [join(root, "img/e.png"), undefined]
      ])
      const other = yield* fromCsv(csv, { root: "/data" })
      assert.strictEqual(other.item(0).id, "/data/img/a.png")
    }))

  it.effect("bad rows, empty files and missing files fail naming the file", () =>
    Effect.gen(function*() {
      const bad = writeFile(join(tmp(), "bad.csv"), "a.png,1\nb.png,2,extra\n")
      const exit = yield* Effect.exit(fromCsv(bad))
      assert.strictEqual(failureTag(exit), "DatasetFormatError")
      assert.include(failureMessage(exit), "row 2")
      assert.include(failureMessage(exit), bad)
      assert.strictEqual(failureTag(yield* Effect.exit(fromCsv(writeFile(join(tmp(), "empty.csv"), "path,label\n")))), "EmptyDatasetError")
      assert.strictEqual(failureTag(yield* Effect.exit(fromCsv(join(tmp(), "missing.csv")))), "DatasetNotFoundError")
    }))
})

const rawOf = (src: IndexedSource, i: number): RawImage => {
  const image = src.item(i).image
  if (image.kind === "raw") return image
  if (image.kind === "lazy") return image.render()
  throw new Error(`unexpected ${image.kind}`)
}

describe("fromIdx", () => {
  const images = new Uint8Array(3 * 2 * 2).map((_v, i) => i * 10)
  const labels = new Uint8Array([2, 0, 1])

  it.effect("parses raw and gzipped IDX files, detected by content, whatever their names", () =>
    Effect.gen(function*() {
      const raw = writeFile(join(tmp(), "idx/images.gz"), idxBytes([3, 2, 2], images)) // named .gz, not gzipped
      const gz = writeFile(join(tmp(), "idx/labels.bin"), gzipSync(idxBytes([3], labels))) // gzipped, not named so
      const src = yield* fromIdx(raw, { labels: gz, classes: ["a", "b", "c"] })
      assert.strictEqual(src.size, 3)
      assert.deepStrictEqual(src.classes, ["a", "b", "c"])
      assert.deepStrictEqual([src.item(0).label, src.item(1).label, src.item(2).label], [2, 0, 1])
      const second = rawOf(src, 1)
      assert.deepStrictEqual([second.height, second.width, second.channels, ...second.pixels], [2, 2, 1, 40, 50, 60, 70])
      const unlabeled = yield* fromIdx(raw)
      assert.strictEqual(unlabeled.classes, undefined)
      assert.strictEqual(unlabeled.item(0).label, undefined)
    }))

  it.effect("wrong sizes, bad magic and mismatched label counts fail naming the file", () =>
    Effect.gen(function*() {
      const cases: Array<[string, Uint8Array, RegExp]> = [
        ["truncated.idx", idxBytes([3, 2, 2], images).subarray(0, 20), /needs 28 bytes, but the file has 20/],
        ["long.idx", new Uint8Array([...idxBytes([3, 2, 2], images), 0]), /needs 28 bytes, but the file has 29/],
        ["magic.idx", new Uint8Array([1, 2, 8, 3, 0, 0]), /not an IDX file/],
        ["header.idx", idxBytes([3, 2, 2], images).subarray(0, 10), /truncated header/],
        ["float.idx", new Uint8Array([0, 0, 0x0d, 1, 0, 0, 0, 0]), /data type 0x0d/],
        ["broken.gz", gzipSync(idxBytes([3, 2, 2], images)).subarray(0, 20), /gzip/]
      ]
      for (const [name, bytes, pattern] of cases) {
        const path = writeFile(join(tmp(), "idx-bad", name), bytes)
        const exit = yield* Effect.exit(fromIdx(path))
        assert.strictEqual(failureTag(exit), "DatasetFormatError", name)
        assert.match(failureMessage(exit), pattern, name)
        assert.include(failureMessage(exit), path)
      }
      const imagesPath = writeFile(join(tmp(), "idx-bad/ok.idx"), idxBytes([3, 2, 2], images))
      const fewLabels = writeFile(join(tmp(), "idx-bad/labels.idx"), idxBytes([2], labels.subarray(0, 2)))
      const exit = yield* Effect.exit(fromIdx(imagesPath, { labels: fewLabels }))
      assert.strictEqual(failureTag(exit), "DatasetFormatError")
      assert.include(failureMessage(exit), "holds 3 images")
      assert.strictEqual(failureTag(yield* Effect.exit(fromIdx(join(tmp(), "idx-bad/none.idx")))), "DatasetNotFoundError")
    }))

  const fashion = "/usr/share/datasets/fashion-mnist"
  const haveFashion = existsSync(join(fashion, "train-images-idx3-ubyte.gz"))
  // .ci/run installs Debian's dataset-fashion-mnist; a machine without it skips these two tests.
  it.effect.skipIf(!haveFashion)("loads Fashion-MNIST from Debian's dataset-fashion-mnist files", () =>
    Effect.gen(function*() {
      for (const [split, count] of [["train", 60_000], ["t10k", 10_000]] as const) {
        const src = yield* fromIdx(join(fashion, `${split}-images-idx3-ubyte.gz`), {
          labels: join(fashion, `${split}-labels-idx1-ubyte.gz`),
          classes: FASHION_MNIST_CLASSES
        })
        assert.strictEqual(src.size, count)
        // Fashion-MNIST is exactly balanced: count / 10 images per class.
        const perClass = Array.from({ length: 10 }, () => 0)
        let sum = 0
        for (let i = 0; i < count; i++) {
          const label = src.item(i).label!
          perClass[label] = perClass[label]! + 1
          const img = rawOf(src, i)
          for (const v of img.pixels) sum += v
        }
        assert.deepStrictEqual(perClass, Array.from({ length: 10 }, () => count / 10))
        // The dataset's published pixel mean is 0.2860 (train) / 0.2868 (test) of 255.
        const mean = sum / (count * 784 * 255)
        assert.approximately(mean, split === "train" ? 0.286 : 0.2868, 0.0005, `${split} mean ${mean}`)
      }
    }))
})

const record = (label: number[], seed: number) => {
  const r = new Uint8Array(label.length + 3072)
  r.set(label)
  for (let i = 0; i < 3072; i++) r[label.length + i] = (i * 7 + seed * 13) % 256
  return r
}
const concat = (parts: Array<Uint8Array>) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

describe("fromCifar", () => {
  it.effect("reads CIFAR-10 batches, a folder's train or test split, and interleaves the colour planes", () =>
    Effect.gen(function*() {
      const dir = join(tmp(), "cifar-10-batches-bin")
      writeFile(join(dir, "data_batch_1.bin"), concat([record([3], 0), record([5], 1)]))
      writeFile(join(dir, "data_batch_2.bin"), concat([record([9], 2)]))
      writeFile(join(dir, "test_batch.bin"), concat([record([1], 3)]))
      const train = yield* fromCifar(dir)
      assert.strictEqual(train.size, 3)
      assert.deepStrictEqual(train.classes, CIFAR10_CLASSES)
      assert.deepStrictEqual([0, 1, 2].map((i) => train.item(i).label), [3, 5, 9])
      assert.include(train.item(2).id, "data_batch_2.bin#0")
      const img = rawOf(train, 1)
      // Pixel (y=1, x=2) of image 1: planes R, G, B at offsets p, 1024 + p, 2048 + p with p = 1·32 + 2.
      const p = 34
      assert.deepStrictEqual([...img.pixels.subarray(3 * p, 3 * p + 3)], [(p * 7 + 13) % 256, ((1024 + p) * 7 + 13) % 256, ((2048 + p) * 7 + 13) % 256])
      const test = yield* fromCifar(dir, { split: "test" })
      assert.deepStrictEqual([test.size, test.item(0).label], [1, 1])
    }))

  it.effect("reads CIFAR-100 fine or coarse labels and class names from the label files", () =>
    Effect.gen(function*() {
      const dir = join(tmp(), "cifar-100-binary")
      writeFile(join(dir, "train.bin"), concat([record([4, 77], 0), record([19, 3], 1)]))
      writeFile(join(dir, "coarse_label_names.txt"), Array.from({ length: 20 }, (_v, i) => `coarse${i}`).join("\n") + "\n")
      const fine = yield* fromCifar(join(dir, "train.bin"))
      assert.deepStrictEqual([fine.item(0).label, fine.item(1).label, fine.classes?.length, fine.classes?.[77]], [77, 3, 100, "77"])
      const coarse = yield* fromCifar(dir, { labels: "coarse" })
      assert.deepStrictEqual([coarse.item(0).label, coarse.item(1).label, coarse.classes?.[19]], [4, 19, "coarse19"])
    }))

  it.effect("a file that is not whole records, or with labels out of range, fails naming it", () =>
    Effect.gen(function*() {
      const truncated = writeFile(join(tmp(), "cifar-bad/data_batch_1.bin"), record([3], 0).subarray(0, 3000))
      const exit = yield* Effect.exit(fromCifar(truncated))
      assert.strictEqual(failureTag(exit), "DatasetFormatError")
      assert.include(failureMessage(exit), truncated)
      assert.include(failureMessage(exit), "3000 bytes")
      const badLabel = writeFile(join(tmp(), "cifar-bad/label.bin"), record([12], 0))
      const labelExit = yield* Effect.exit(fromCifar(badLabel))
      assert.strictEqual(failureTag(labelExit), "DatasetFormatError")
      assert.include(failureMessage(labelExit), "label 12")
      assert.strictEqual(failureTag(yield* Effect.exit(fromCifar(join(tmp(), "cifar-none")))), "DatasetNotFoundError")
    }))
})

function* gen() {
  yield "/a.png"
}

describe("fromArray and fromIterable", () => {
  it("fromArray takes paths, bytes and pixels, labeled or not", () => {
    const pixels: RawImage = { pixels: new Uint8Array(12), width: 2, height: 2, channels: 3 }
    const src = fromArray([{ image: "/x.png", label: 1 }, { image: new Uint8Array([1, 2]), label: 0 }, pixels], { name: "mine" })
    assert.strictEqual(src.size, 3)
    assert.deepStrictEqual(src.classes, ["0", "1"])
    assert.deepStrictEqual([src.item(0).id, src.item(1).id, src.item(2).id], ["/x.png", "mine#1", "mine#2"])
    assert.deepStrictEqual([src.item(0).image.kind, src.item(1).image.kind, src.item(2).image.kind], ["file", "encoded", "raw"])
    assert.throws(() => fromArray([{ image: "/x.png", label: -1 }]), /labels must be integers/)
    assert.notStrictEqual(fromArray([pixels]).fingerprint(), fromArray([{ ...pixels, pixels: new Uint8Array(12).fill(1) }]).fingerprint())
  })

  it("fromIterable knows one-shot generators from replayable iterables", () => {
    assert.isFalse(fromIterable(gen()).replayable)
    assert.isTrue(fromIterable(gen).replayable)
    assert.isTrue(fromIterable(["/a.png"]).replayable)
  })
})
