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
  },
  layersPeers
)
