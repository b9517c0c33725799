import { spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import { randomUniform, seededRandom, useLeakCheck } from "@simclr/test-utils"
import { afterAll, describe, expect, it } from "vitest"
import { InvalidArgumentError, loadModel, resnet, saveModel } from "../src/index.ts"

const work = mkdtempSync(join(tmpdir(), "simclr-save-"))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const config = { depth: 50, baseWidth: 8, skRatio: 0.0625, seRatio: 0.25 } as const
const predict = (m: tfl.LayersModel, x: tf.Tensor) => tf.tidy(() => Array.from((m.predict(x) as tf.Tensor).dataSync()))

/** float32 → IEEE half bits, round to nearest even (the test's own encoder). */
const toHalf = (value: number): number => {
  const f = new Float32Array([value])
  const bits = new Uint32Array(f.buffer)[0]!
  const sign = (bits >>> 16) & 0x8000
  const exponent = (bits >>> 23) & 0xff
  const mantissa = bits & 0x7fffff
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa === 0 ? 0 : 0x200)
  const e = exponent - 127 + 15
  if (e >= 0x1f) return sign | 0x7c00
  if (e <= 0) {
    if (e < -10) return sign
    const m = mantissa | 0x800000
    const shift = 14 - e
    const half = 1 << (shift - 1)
    const rest = m & ((1 << shift) - 1)
    let out = m >>> shift
    if (rest > half || (rest === half && (out & 1) === 1)) out++
    return sign | out
  }
  let out = (e << 10) | (mantissa >>> 13)
  const rest = mantissa & 0x1fff
  if (rest > 0x1000 || (rest === 0x1000 && (out & 1) === 1)) out++
  return sign | out
}

/** IEEE half bits → number (the test's own decoder). */
const fromHalf = (h: number): number => {
  const sign = h & 0x8000 ? -1 : 1
  const e = (h >> 10) & 0x1f
  const m = h & 0x3ff
  if (e === 0) return sign * 2 ** -14 * (m / 1024)
  if (e === 31) return m === 0 ? sign * Infinity : Number.NaN
  return sign * 2 ** (e - 15) * (1 + m / 1024)
}

type Quantization = "uint8" | "uint16" | "float16"

/**
 * Rewrites a folder written by saveModel with every weight quantized as tensorflowjs_converter's
 * --quantize_* flags store it (affine q = round((v − min)/scale) for uint8/uint16, IEEE half for
 * float16), in one shard; returns, per weight, the values tfjs must dequantize to (float32).
 */
const quantizeFolder = (dir: string, kind: Quantization): Map<string, Array<number>> => {
  const modelJson = JSON.parse(readFileSync(join(dir, "model.json"), "utf8")) as tf.io.ModelJSON
  const group = modelJson.weightsManifest[0]!
  const whole = Buffer.concat(group.paths.map((p) => readFileSync(join(dir, p))))
  const floats = new Float32Array(whole.buffer.slice(whole.byteOffset, whole.byteOffset + whole.byteLength))
  const expected = new Map<string, Array<number>>()
  const chunks: Array<Uint8Array> = []
  let offset = 0
  const weights = group.weights.map((spec) => {
    const count = spec.shape.reduce((a, b) => a * b, 1)
    const values = floats.subarray(offset, offset + count)
    offset += count
    if (kind === "float16") {
      const bits = Uint16Array.from(values, toHalf)
      chunks.push(new Uint8Array(bits.buffer))
      expected.set(spec.name, Array.from(bits, fromHalf))
      return { ...spec, quantization: { dtype: kind } }
    }
    const top = kind === "uint8" ? 255 : 65535
    const min = Math.min(...values)
    const max = Math.max(...values)
    const scale = max > min ? (max - min) / top : 1
    const q = Array.from(values, (v) => Math.min(top, Math.max(0, Math.round((v - min) / scale))))
    chunks.push(new Uint8Array((kind === "uint8" ? Uint8Array.from(q) : Uint16Array.from(q)).buffer))
    expected.set(spec.name, q.map((v) => Math.fround(v * scale + min)))
    return { ...spec, quantization: { dtype: kind, scale, min } }
  })
  for (const p of group.paths) rmSync(join(dir, p))
  writeFileSync(join(dir, "quantized.bin"), Buffer.concat(chunks))
  writeFileSync(join(dir, "model.json"), JSON.stringify({ ...modelJson, weightsManifest: [{ paths: ["quantized.bin"], weights }] }))
  return expected
}

/** Rewrites one manifest entry of a saved folder. */
const editSpec = (dir: string, edit: (spec: Record<string, unknown>) => void): void => {
  const modelJson = JSON.parse(readFileSync(join(dir, "model.json"), "utf8")) as { weightsManifest: Array<{ weights: Array<Record<string, unknown>> }> }
  edit(modelJson.weightsManifest[0]!.weights[0]!)
  writeFileSync(join(dir, "model.json"), JSON.stringify(modelJson))
}

describe("saveModel / loadModel", () => {
  useLeakCheck()

  it("round-trips a model with selective kernels and SE (custom layers) to identical outputs", async () => {
    const dir = join(work, "roundtrip")
    const model = resnet({ ...config, seed: 1 })
    const x = randomUniform([2, 24, 24, 3], 1)
    const result = await saveModel(model, dir)
    expect(result.files[0]).toBe("model.json")
    expect(readdirSync(dir).toSorted()).toEqual([...result.files].toSorted())
    const again = await loadModel(dir)
    expect(predict(again, x)).toEqual(predict(model, x))
    expect(again.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name))
    tf.dispose(x)
    model.dispose()
    again.dispose()
  })

  it("replaces an earlier model and removes its stale shards", async () => {
    const dir = join(work, "replace")
    const a = resnet({ ...config, seed: 1 })
    const b = resnet({ ...config, seed: 2 })
    const first = await saveModel(a, dir)
    const second = await saveModel(b, dir)
    expect(second.files).not.toEqual(first.files)
    expect(readdirSync(dir).toSorted()).toEqual([...second.files].toSorted())
    const x = randomUniform([1, 16, 16, 3], 2)
    const loaded = await loadModel(dir)
    expect(predict(loaded, x)).toEqual(predict(b, x))
    tf.dispose(x)
    for (const m of [a, b, loaded]) m.dispose()
  })

  it("survives being killed at any moment: the folder always loads as the old or the new model", { timeout: 300_000 }, async () => {
    const dir = join(work, "crash")
    const old = resnet({ ...config, seed: 1 })
    const next = resnet({ ...config, seed: 2 })
    await saveModel(old, dir)
    const x = randomUniform([1, 16, 16, 3], 3)
    const [pOld, pNew] = [predict(old, x), predict(next, x)]
    const rng = seededRandom(4)
    const outcomes: Array<string> = []
    for (let round = 0; round < 12; round++) {
      const child = spawn(process.execPath, [new URL("./scripts/save-forever.mjs", import.meta.url).pathname, dir, "2"], {
        stdio: ["ignore", "pipe", "inherit"]
      })
      // Even rounds kill at a random moment after the child is ready (often inside its first save); odd
      // rounds only after a first complete save, so the folder must then load as the new model.
      const printed = (word: string) =>
        new Promise<void>((resolve) => {
          const listen = (chunk: Buffer) => {
            if (!chunk.toString().includes(word)) return
            child.stdout.off("data", listen)
            resolve()
          }
          child.stdout.on("data", listen)
        })
      await printed(round % 2 === 0 ? "ready" : "saved")
      await new Promise((resolve) => setTimeout(resolve, 5 + rng.uniform() * 150))
      child.kill("SIGKILL")
      await new Promise((resolve) => child.once("exit", resolve))
      const loaded = await loadModel(dir)
      const p = predict(loaded, x)
      loaded.dispose()
      const which = JSON.stringify(p) === JSON.stringify(pOld) ? "old" : JSON.stringify(p) === JSON.stringify(pNew) ? "new" : "broken"
      expect(which).not.toBe("broken")
      outcomes.push(which)
    }
    // Every round killed after a complete save found the new model.
    expect(outcomes.filter((_which, round) => round % 2 === 1)).toEqual(["new", "new", "new", "new", "new", "new"])
    // A final, uninterrupted save leaves exactly model.json and its shards (no temporary leftovers).
    const { files } = await saveModel(next, dir)
    expect(readdirSync(dir).toSorted()).toEqual([...files].toSorted())
    tf.dispose(x)
    old.dispose()
    next.dispose()
  })

  it("names missing and corrupt files", async () => {
    await expect(loadModel(join(work, "nothing-here"))).rejects.toThrow(InvalidArgumentError)
    await expect(loadModel(join(work, "nothing-here"))).rejects.toThrow(/^dir: cannot read .*nothing-here\/model\.json/)
    const dir = join(work, "corrupt")
    const model = resnet({ depth: 18, baseWidth: 4, stem: "cifar" })
    const { files } = await saveModel(model, dir)
    model.dispose()
    writeFileSync(join(dir, files[1]!), new Uint8Array(10))
    await expect(loadModel(dir)).rejects.toThrow(/^dir: weight shards in .* hold 10 bytes but model\.json describes \d+/)
    writeFileSync(join(dir, "model.json"), "{ not json")
    await expect(loadModel(dir)).rejects.toThrow(/^dir: cannot read .*model\.json/)
  })
})

describe("loadModel: quantized weights (tensorflowjs_converter --quantize_*)", () => {
  useLeakCheck()

  const tiny = { depth: 50, baseWidth: 4, skRatio: 0.0625, seRatio: 0.25, blocksPerGroup: [1, 1, 1, 1], zeroInitLastBlockGamma: false } as const

  for (const kind of ["uint8", "uint16", "float16"] as const) {
    it(`dequantizes ${kind} weights as tfjs does: ${kind === "float16" ? "half → float32, exactly" : "q · scale + min, exactly in float32"}`, async () => {
      const dir = join(work, `quantized-${kind}`)
      const model = resnet({ ...tiny, seed: 7 })
      await saveModel(model, dir)
      const originals = new Map(model.weights.map((w) => [w.originalName, Array.from(w.read().dataSync())]))
      model.dispose()
      const expected = quantizeFolder(dir, kind)
      const loaded = await loadModel(dir)
      expect(loaded.weights.length).toBe(expected.size)
      for (const w of loaded.weights) {
        const values = Array.from(w.read().dataSync())
        expect(values).toEqual(expected.get(w.originalName))
        // Sanity of the test's own quantizer: within half a step (uint) or 2⁻¹¹ relative (float16).
        const original = originals.get(w.originalName)!
        const range = Math.max(...original) - Math.min(...original)
        const step = kind === "uint8" ? range / 255 : kind === "uint16" ? range / 65535 : 0
        original.forEach((v, i) => expect(Math.abs(values[i]! - v)).toBeLessThanOrEqual(kind === "float16" ? Math.abs(v) * 2 ** -11 + 2 ** -24 : step / 2 + 1e-6 * Math.abs(v) + 1e-12))
      }
      loaded.dispose()
    })
  }

  it("names the weight when tfjs cannot decode it; counts quantized bytes, not 4 per value", async () => {
    const dir = join(work, "quantized-bad")
    const model = resnet({ ...tiny, seed: 8 })
    await saveModel(model, dir)
    model.dispose()
    quantizeFolder(dir, "uint8")
    const name = (JSON.parse(readFileSync(join(dir, "model.json"), "utf8")) as tf.io.ModelJSON).weightsManifest[0]!.weights[0]!.name
    const jsonPath = join(dir, "model.json")
    const snapshot = readFileSync(jsonPath, "utf8")
    editSpec(dir, (spec) => void (spec["quantization"] = { dtype: "int4", scale: 1, min: 0 }))
    await expect(loadModel(dir)).rejects.toThrow(`dir: ${jsonPath}: weight "${name}" has quantization {"dtype":"int4","scale":1,"min":0}; tfjs dequantizes only uint8, uint16 and float16`)
    writeFileSync(jsonPath, snapshot)
    editSpec(dir, (spec) => void (spec["quantization"] = { dtype: "uint8" }))
    await expect(loadModel(dir)).rejects.toThrow(`dir: ${jsonPath}: weight "${name}" has quantization {"dtype":"uint8"} without the numbers scale and min`)
    writeFileSync(jsonPath, snapshot)
    editSpec(dir, (spec) => {
      spec["dtype"] = "int32"
      spec["quantization"] = { dtype: "float16" }
    })
    await expect(loadModel(dir)).rejects.toThrow(`dir: ${jsonPath}: weight "${name}" is int32 quantized as float16; tfjs dequantizes float16 only to float32`)
    writeFileSync(jsonPath, snapshot)
    editSpec(dir, (spec) => {
      spec["dtype"] = "string"
      delete spec["quantization"]
    })
    await expect(loadModel(dir)).rejects.toThrow(`dir: ${jsonPath}: weight "${name}" has dtype "string"; a layers model stores float32, int32 or bool weights`)
    // The same manifest as uint16: the shard holds 1 byte per value where 2 are described.
    writeFileSync(jsonPath, snapshot)
    const manifest = JSON.parse(snapshot) as tf.io.ModelJSON
    const values = manifest.weightsManifest[0]!.weights.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0)
    writeFileSync(jsonPath, JSON.stringify({ ...manifest, weightsManifest: [{ ...manifest.weightsManifest[0]!, weights: manifest.weightsManifest[0]!.weights.map((w) => ({ ...w, quantization: { ...w.quantization!, dtype: "uint16" } })) }] }))
    await expect(loadModel(dir)).rejects.toThrow(`dir: weight shards in ${dir} hold ${values} bytes but model.json describes ${2 * values}`)
  })
})
