/**
 * @simclr/encoders and @simclr/heads installed alone next to tfjs-core, tfjs-layers and the cpu
 * backend: torchvision weights load and give torchvision's features; a v2 head builds and runs.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { expect, it } from "vitest"
import { describeStandalone, repo } from "./install.ts"

const fixtures = join(repo, "packages", "encoders", "test", "fixtures")
const layersPeers = ["@tensorflow/tfjs-core", "@tensorflow/tfjs-layers"]

describeStandalone(
  "@simclr/encoders",
  (installed) => {
    it("loads torchvision weights from safetensors and matches torchvision's features", () => {
      const c = JSON.parse(readFileSync(join(fixtures, "basic-cifar.json"), "utf8")) as { input: Array<unknown>; features_f64: Array<Array<number>>; layers: Array<number>; base: number }
      const out = installed().runScript(`import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import { resnet, loadTorchvisionWeights } from "@simclr/encoders"
await tf.setBackend("cpu")
const model = resnet({ depth: 18, stem: "cifar", baseWidth: ${c.base}, blocksPerGroup: ${JSON.stringify(c.layers)} })
await loadTorchvisionWeights(model, ${JSON.stringify(join(fixtures, "basic-cifar.safetensors"))})
const h = model.predict(tf.tensor(${JSON.stringify(c.input)}))
console.log(JSON.stringify(Array.from(h.dataSync())))
`)
      const features = JSON.parse(out.trim().split("\n").at(-1)!) as Array<number>
      const ref = c.features_f64.flat()
      // Two images of 4·8 = 32 features each: an empty or short output must fail, not pass vacuously.
      expect(ref.length).toBe(2 * 8 * c.base)
      expect(features.length).toBe(ref.length)
      const scale = Math.max(...ref.map(Math.abs))
      expect(scale).toBeGreaterThan(0)
      const worst = Math.max(...features.map((v, i) => Math.abs(v - ref[i]!)))
      expect(worst).toBeLessThan(1e-4 * scale)
    })
  },
  layersPeers
)

describeStandalone(
  "@simclr/heads",
  (installed) => {
    it("builds the v2 head and returns h, two hidden layers and z", () => {
      const out = installed().runScript(`import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import { projectionHead, headPresets } from "@simclr/heads"
await tf.setBackend("cpu")
const outputs = projectionHead(headPresets.v2(16)).predict(tf.ones([2, 16]))
console.log(JSON.stringify(outputs.map((t) => t.shape)))
`)
      expect(JSON.parse(out.trim().split("\n").at(-1)!)).toEqual([[2, 16], [2, 16], [2, 16], [2, 128]])
    })

    it("a saved v1 head reloads in a fresh process (the last BN without β is a registered layer) with the same weights and outputs", () => {
      const prelude = `import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import "@tensorflow/tfjs-backend-cpu"
import { readFileSync, writeFileSync } from "node:fs"
import { projectionHead, headPresets } from "@simclr/heads"
await tf.setBackend("cpu")
const x = tf.tensor2d(Array.from({ length: 48 }, (_v, i) => Math.sin(i)), [3, 16])
const report = (model) => JSON.stringify({
  trainable: model.trainableWeights.map((w) => w.originalName),
  z: Array.from(model.predict(x).at(-1).dataSync())
})
`
      const saved = installed().runScript(`${prelude}
const head = projectionHead(headPresets.v1(16))
head.apply(x, { training: true }) // moves the BN statistics away from their initial values
await head.save(tf.io.withSaveHandler(async (a) => {
  writeFileSync("head.json", JSON.stringify({ modelTopology: a.modelTopology, weightSpecs: a.weightSpecs }))
  writeFileSync("head.bin", Buffer.from(a.weightData))
  return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } }
}))
console.log(report(head))
`)
      const loaded = installed().runScript(`${prelude}
const { modelTopology, weightSpecs } = JSON.parse(readFileSync("head.json", "utf8"))
const bytes = readFileSync("head.bin")
const head = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology, weightSpecs, weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) }))
console.log(report(head))
`)
      const [before, after] = [saved, loaded].map((o) => JSON.parse(o.trim().split("\n").at(-1)!) as { trainable: Array<string>; z: Array<number> })
      // v1: 2 dense kernels, the first BN's γ and β, the last BN's γ only.
      expect(before!.trainable.filter((n) => n.endsWith("/beta"))).toHaveLength(1)
      expect(before!.trainable).toHaveLength(5)
      expect(after!.trainable).toEqual(before!.trainable)
      expect(before!.z).toHaveLength(3 * 128)
      expect(after!.z).toEqual(before!.z)
    })
  },
  layersPeers
)
