/**
 * The "I want batches from my folder without learning Effect" user: @simclr/data-stream packed and
 * installed next to tfjs-core and the cpu backend (its @simclr/augment dependency is packed alongside,
 * as it is not on the registry yet). The script never imports effect: it reads a folder of images
 * written with sharp and the synthetic set through `toAsyncIterable`, and makes two views.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Installed, packAndInstall, tfjsVersion } from "./install.ts"

describe("@simclr/data-stream installed alone", () => {
  let installed: Installed | undefined
  beforeAll(() => {
    installed = packAndInstall("@simclr/data-stream", [`@tensorflow/tfjs-core@${tfjsVersion}`, `@tensorflow/tfjs-backend-cpu@${tfjsVersion}`])
  })
  afterAll(() => installed?.cleanup())
  const get = (): Installed => {
    if (installed === undefined) throw new Error("the package was not installed")
    return installed
  }

  it("packs the built code, its types and the README, and no tests; depends on effect, sharp, fast-glob, @simclr/augment and @simclr/core", () => {
    const { files, app } = get()
    expect(files).toContain("dist/index.js")
    expect(files).toContain("dist/index.d.ts")
    expect(files).toContain("README.md")
    expect(files.filter((f) => f.startsWith("test/") || f.endsWith(".tsbuildinfo"))).toEqual([])
    const modules = join(app, "node_modules")
    expect(readdirSync(join(modules, "@simclr")).toSorted()).toEqual(["augment", "core", "data-stream"])
    expect(["effect", "sharp", "fast-glob"].filter((dep) => !existsSync(join(modules, dep)))).toEqual([])
    const manifest = JSON.parse(readFileSync(join(modules, "@simclr", "data-stream", "package.json"), "utf8")) as Record<string, Record<string, string>>
    expect(Object.keys(manifest["peerDependencies"]!)).toEqual(["@tensorflow/tfjs-core"])
  })

  it("streams a folder and the synthetic set to two-view batches without importing effect", () => {
    const out = get().runScript(`import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import sharp from "sharp"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { tmpdir } from "node:os"
import { fromDirectory, imageBatches, makeTwoViews, synthetic, toAsyncIterable } from "@simclr/data-stream"
await tf.setBackend("cpu")
const root = mkdtempSync(join(tmpdir(), "photos-"))
for (const [cls, colour] of [["cats", "#c02020"], ["dogs", "#2020c0"]]) {
  mkdirSync(join(root, cls))
  for (let i = 0; i < 3; i++) writeFileSync(join(root, cls, i + ".jpg"), await sharp({ create: { width: 50, height: 40, channels: 3, background: colour } }).jpeg().toBuffer())
}
writeFileSync(join(root, "cats", "broken.jpg"), "not a jpeg")
const folder = []
for await (const b of toAsyncIterable(imageBatches(fromDirectory(root), { batchSize: 4, imageSize: 16, seed: 1, maxFailureFraction: 0.5 }))) {
  folder.push({ size: b.size, labels: Array.from(b.labels), skipped: b.skipped.map((e) => e.id.endsWith("broken.jpg")), classes: b.classes })
}
const views = []
for await (const b of toAsyncIterable(imageBatches(synthetic({ size: 5 }), { batchSize: 5, imageSize: 16 }))) {
  const v = makeTwoViews(b, "cifar10")
  views.push(v.view1.shape, v.view2.shape)
  v.dispose()
}
console.log(JSON.stringify({ folder, views, tensors: tf.memory().numTensors }))
`)
    const result = JSON.parse(out.trim().split("\n").at(-1)!) as {
      folder: Array<{ size: number; labels: Array<number>; skipped: Array<boolean>; classes: Array<string> }>
      views: Array<Array<number>>
      tensors: number
    }
    expect(result.folder.map((b) => b.size)).toEqual([4, 2])
    expect(result.folder.flatMap((b) => b.labels).toSorted()).toEqual([0, 0, 0, 1, 1, 1])
    expect(result.folder.flatMap((b) => b.skipped)).toEqual([true])
    expect(result.folder[0]!.classes).toEqual(["cats", "dogs"])
    expect(result.views).toEqual([[5, 32, 32, 3], [5, 32, 32, 3]])
    expect(result.tensors).toBe(0)
  })
})
