/**
 * Parity with torchvision: tiny ResNets built from torchvision's own blocks (tools/fixtures/encoders.py)
 * with random weights and batch-norm statistics, saved as safetensors; our model with the same config
 * must give torchvision's eval-mode features to 1e-4 × max|ref| (the bound; float32 vs float64
 * reference). Plus the error paths: missing, unexpected, mis-shaped, truncated and malformed.
 */
import { readFileSync } from "node:fs"
import * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import { useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { InvalidArgumentError, loadTorchvisionWeights, resnet, type ResNetConfig } from "../src/index.ts"

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url)
interface Case {
  readonly name: string
  readonly block: string
  readonly layers: Array<number>
  readonly base: number
  readonly stem: "imagenet" | "cifar"
  readonly input: Array<unknown>
  readonly features_f64: Array<Array<number>>
  readonly stateDictKeys: Array<string>
}
const load = (name: string): Case => JSON.parse(readFileSync(fixture(`${name}.json`), "utf8")) as Case

/** Depth picks the block kind (18: basic, 50: bottleneck); the fixtures set their own block counts. */
const configFor = (c: Case): ResNetConfig => ({
  depth: c.block === "basic" ? 18 : 50,
  baseWidth: c.base,
  stem: c.stem
})

const withModel = async <A>(config: ResNetConfig, layers: Array<number>, fn: (m: tfl.LayersModel) => Promise<A> | A): Promise<A> => {
  const m = resnet({ ...config, blocksPerGroup: layers as [number, number, number, number] })
  try {
    return await fn(m)
  } finally {
    m.dispose()
  }
}

describe("loadTorchvisionWeights: parity with torchvision", () => {
  useLeakCheck()

  for (const name of ["basic-imagenet", "bottleneck-imagenet", "basic-cifar"]) {
    it(`${name}: eval-mode features equal torchvision's to 1e-4 × max|ref|`, async () => {
      const c = load(name)
      await withModel(configFor(c), c.layers, async (m) => {
        const report = await loadTorchvisionWeights(m, fixture(`${name}.safetensors`).pathname)
        expect(report.loaded.length).toBe(c.stateDictKeys.filter((k) => !k.endsWith("num_batches_tracked")).length)
        expect(report.ignored.every((k) => k.endsWith("num_batches_tracked"))).toBe(true)
        const images = tf.tensor(c.input as Array<number>) as tf.Tensor4D
        const h = m.predict(images) as tf.Tensor
        const scale = Math.max(...c.features_f64.flat().map(Math.abs))
        expect(h).toBeAllclose(c.features_f64, { rtol: 0, atol: 1e-4 * scale })
        tf.dispose([images, h])
      })
    })
  }

  it("accepts the file's bytes as well as its path", async () => {
    const c = load("basic-cifar")
    const bytes = new Uint8Array(readFileSync(fixture("basic-cifar.safetensors")))
    await withModel(configFor(c), c.layers, async (m) => {
      const report = await loadTorchvisionWeights(m, bytes)
      expect(report.loaded).toContain("layer1.0.conv1.weight")
    })
  })
})

describe("loadTorchvisionWeights: bad files", () => {
  useLeakCheck()

  it("names missing and unexpected tensors and changes nothing", async () => {
    // A basic-block file into a bottleneck model: every name differs somewhere.
    await withModel({ depth: 50, baseWidth: 8 }, [1, 1, 1, 1], async (m) => {
      const before = Array.from(m.getLayer("conv1").getWeights()[0]!.dataSync())
      await expect(loadTorchvisionWeights(m, fixture("basic-imagenet.safetensors").pathname)).rejects.toThrow(
        /^weights: the file does not match model "resnet50" \(nothing was changed\): missing \d+: .*layer1\.0\.conv3\.weight.* \| wrong shape/
      )
      expect(Array.from(m.getLayer("conv1").getWeights()[0]!.dataSync())).toEqual(before)
    })
  })

  it("names mis-shaped tensors", async () => {
    await withModel({ depth: 18, baseWidth: 16, stem: "cifar" }, [2, 2, 2, 2], async (m) => {
      await expect(loadTorchvisionWeights(m, fixture("basic-cifar.safetensors").pathname)).rejects.toThrow(
        /wrong shape \d+: conv1\.weight: file \[4, 3, 3, 3\] → \[3, 3, 3, 4\], model expects \[3, 3, 3, 16\]/
      )
    })
  })

  it("rejects truncated and malformed files with a clear error", async () => {
    await withModel({ depth: 18, baseWidth: 4, stem: "cifar" }, [2, 2, 2, 2], async (m) => {
      await expect(loadTorchvisionWeights(m, fixture("truncated.safetensors").pathname)).rejects.toThrow(InvalidArgumentError)
      await expect(loadTorchvisionWeights(m, fixture("truncated.safetensors").pathname)).rejects.toThrow(/truncated: tensor ".*" ends at byte \d+ of the data, which has only \d+/)
      await expect(loadTorchvisionWeights(m, fixture("bad-header.safetensors").pathname)).rejects.toThrow(/truncated or not a safetensors file: the header claims \d+ bytes but only \d+ follow/)
      await expect(loadTorchvisionWeights(m, new Uint8Array([1, 2, 3]))).rejects.toThrow(/too short for the 8-byte header length/)
      const junk = new Uint8Array(16)
      new DataView(junk.buffer).setBigUint64(0, 8n, true)
      junk.set(new TextEncoder().encode("{nope!!}"), 8)
      await expect(loadTorchvisionWeights(m, junk)).rejects.toThrow(/malformed header \(not UTF-8 JSON\)/)
      await expect(loadTorchvisionWeights(m, "/no/such/file.safetensors")).rejects.toThrow(/^pathOrBytes: cannot read \/no\/such\/file\.safetensors/)
    })
  })
})
