/**
 * Hostile model.json folders (`loadModel`) and safetensors files (`loadTorchvisionWeights`) of
 * `@simclr/encoders`. No `simclr` command reads either (the CLI loads runs through their checkpoints),
 * so these go through the library calls an application makes. Each case must be refused with an
 * `InvalidArgumentError` naming the file and what is wrong, without reading anything outside the model
 * folder, executing anything the file holds, polluting prototypes, or writing anything (the sandbox
 * around the files is compared before and after). The malformed-file cases packages/encoders/test
 * already covers (truncated shards, bad JSON, quantization, overlapping or out-of-range safetensors
 * offsets, unsupported dtypes, a pickle) are not repeated here.
 */
import { InvalidArgumentError, loadModel, loadTorchvisionWeights, resnet, saveModel } from "@simclr/encoders"
import * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import { spawnSync } from "node:child_process"
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { snapshot } from "./support.ts"

const root = mkdtempSync(join(tmpdir(), "simclr-hostile-model-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
/** What `fn` threw (it must throw an InvalidArgumentError). */
const refusal = async (fn: () => Promise<unknown>): Promise<string> => {
  const error = await fn().then(() => new Error("it loaded"), (e: unknown) => e)
  expect(error).toBeInstanceOf(InvalidArgumentError)
  return (error as Error).message
}

/** A sandbox with `model/` (a copy of the saved model), `outside/` beside it and a marker path code would create. */
const sandbox = () => {
  const dir = mkdtempSync(join(root, "case-"))
  const model = join(dir, "model")
  cpSync(join(root, "saved"), model, { recursive: true })
  mkdirSync(join(dir, "outside"))
  cpSync(join(model, shard), join(dir, "outside", shard))
  return { dir, model, json: join(model, "model.json"), marker: join(dir, "PWNED") }
}

/** The saved model's one weight shard (its name is in the cases' expected messages) and its model.json. */
const { shard, good } = await (async () => {
  const model = resnet({ depth: 18, baseWidth: 2, stem: "cifar", blocksPerGroup: [1, 1, 1, 1], inputShape: [8, 8, 3], seed: 5 })
  const { files } = await saveModel(model, join(root, "saved"))
  model.dispose()
  if (files.length !== 2) throw new Error(`saveModel wrote ${files.join(", ")}; the cases expect model.json and one shard`)
  return { shard: files[1]!, good: JSON.parse(readFileSync(join(root, "saved", "model.json"), "utf8")) as Record<string, unknown> }
})()

type ModelJson = { modelTopology: { config: { layers: Array<Record<string, unknown>> } }; weightsManifest: Array<{ paths: Array<unknown>; weights: Array<Record<string, unknown>> }> }

interface ModelCase {
  readonly name: string
  /** Edits a copy of the good model.json (or returns the text to write instead). */
  readonly edit?: (json: ModelJson, box: ReturnType<typeof sandbox>) => string | void
  /** Then changes files in the sandbox. */
  readonly files?: (box: ReturnType<typeof sandbox>) => void
  /** How the message starts, after `dir: `; `$JSON` and `$DIR` stand for the model.json path and the folder. */
  readonly error: string
  /** The refusal comes from tfjs-layers building the model, after our checks passed (see the leak note below). */
  readonly byTfjs?: true
}

/** A string as loadModel's messages show it (quoted, cut at 40 characters). */
const shown = (text: string) => `"${text.length > 40 ? `${text.slice(0, 40)}…` : text}"`
const inside = "; expected a file name inside the model folder (relative, without \"..\")"
const code = (box: ReturnType<typeof sandbox>) => `require("node:fs").writeFileSync(${JSON.stringify(box.marker)}, "")`
const firstWeight = "conv1/kernel"

const modelCases: ReadonlyArray<ModelCase> = [
  // Paths out of the folder: before the fix, "../" read the file beside the folder (and loaded it).
  { name: "a shard path with ../ to a real shard beside the folder", edit: (j) => void (j.weightsManifest[0]!.paths = [`../outside/${shard}`]), error: `$JSON: weightsManifest[0].paths names ${shown(`../outside/${shard}`)}${inside}` },
  { name: "an absolute shard path", edit: (j, box) => void (j.weightsManifest[0]!.paths = [join(box.dir, "outside", shard)]), error: "$JSON: weightsManifest[0].paths names \"/" },
  { name: "a shard path through ../ to /dev/zero", edit: (j) => void (j.weightsManifest[0]!.paths = ["../../../../../../../../dev/zero"]), error: `$JSON: weightsManifest[0].paths names "../../../../../../../../dev/zero"${inside}` },
  {
    name: "a shard that is a link to /dev/zero (endless)",
    files: (box) => {
      rmSync(join(box.model, shard))
      symlinkSync("/dev/zero", join(box.model, shard))
    },
    error: `cannot read weight shard $DIR/${shard}: not a regular file`
  },
  {
    name: "a shard that is a FIFO (a reader would block)",
    files: (box) => {
      rmSync(join(box.model, shard))
      expect(spawnSync("mkfifo", [join(box.model, shard)]).status).toBe(0)
    },
    error: `cannot read weight shard $DIR/${shard}: not a regular file`
  },
  { name: "a shard path that is the folder itself", edit: (j) => void (j.weightsManifest[0]!.paths = ["."]), error: "cannot read weight shard $DIR: not a regular file" },
  {
    name: "model.json a link to /dev/zero",
    files: (box) => {
      rmSync(box.json)
      symlinkSync("/dev/zero", box.json)
    },
    error: "cannot read $JSON: not a regular file"
  },
  // Sizes.
  { name: "a weight 10⁹ × 10⁹ × 10⁹ values large", edit: (j) => void (j.weightsManifest[0]!.weights[0]!["shape"] = [1e9, 1e9, 1e9]), error: `$JSON: weight "${firstWeight}" has shape [1000000000,1000000000,1000000000]: 1e+27 values, more than any file holds` },
  {
    name: "a negative size balanced by an extra weight (the byte total still matches)",
    edit: (j) => {
      const weights = j.weightsManifest[0]!.weights
      const count = (weights[0]!["shape"] as Array<number>).reduce((a, b) => a * b, 1)
      weights[0]!["shape"] = [-1, count]
      weights.splice(1, 0, { name: "extra", shape: [2 * count], dtype: "float32" })
    },
    error: `$JSON: weight "${firstWeight}" has shape [-1,54]; expected an array of integers ≥ 0`
  },
  { name: "a fractional size", edit: (j) => void (j.weightsManifest[0]!.weights[0]!["shape"] = [0.5, 108]), error: `$JSON: weight "${firstWeight}" has shape [0.5,108]; expected an array of integers ≥ 0` },
  { name: "a shape that is not an array", edit: (j) => void (j.weightsManifest[0]!.weights[0]!["shape"] = "54"), error: `$JSON: weight "${firstWeight}" has shape "54"; expected an array of integers ≥ 0` },
  // Byte counts.
  {
    name: "a shard four bytes longer than described",
    files: (box) => writeFileSync(join(box.model, shard), Buffer.concat([readFileSync(join(box.model, shard)), Buffer.alloc(4)])),
    error: "weight shards in $DIR hold 20764 bytes but model.json describes 20760"
  },
  { name: "a weight missing from the manifest", edit: (j) => void j.weightsManifest[0]!.weights.pop(), error: "weight shards in $DIR hold 20760 bytes but model.json describes 20696" },
  // dtypes.
  { name: "dtype float64", edit: (j) => void (j.weightsManifest[0]!.weights[0]!["dtype"] = "float64"), error: `$JSON: weight "${firstWeight}" has dtype "float64"; a layers model stores float32, int32 or bool weights` },
  { name: "dtype __proto__", edit: (j) => void (j.weightsManifest[0]!.weights[0]!["dtype"] = "__proto__"), error: `$JSON: weight "${firstWeight}" has dtype "__proto__"; a layers model stores float32, int32 or bool weights` },
  { name: "a dtype that is a number", edit: (j) => void (j.weightsManifest[0]!.weights[0]!["dtype"] = 7), error: `$JSON: weight "${firstWeight}" has dtype 7; a layers model stores float32, int32 or bool weights` },
  { name: "int32 for a float32 weight", edit: (j) => void (j.weightsManifest[0]!.weights[0]!["dtype"] = "int32"), error: "$JSON: tfjs cannot build the model: dtype of the new value (int32) and previous value (float32) must match", byTfjs: true },
  // Structure and __proto__ keys.
  { name: "a manifest that is null", edit: () => "null", error: "$JSON is not a TF.js layers model (no modelTopology or weightsManifest)" },
  { name: "paths that are a string", edit: (j) => void (j.weightsManifest[0]!.paths = shard as unknown as Array<unknown>), error: `$JSON: weightsManifest[0] is {"paths":"${shard}","weights":[{"name":"conv1/kernel"` },
  {
    name: "a manifest group whose fields sit under __proto__",
    edit: (j) => JSON.stringify(j).replace(/"weightsManifest":\[\{"paths"/, '"weightsManifest":[{"__proto__":{"paths":[]},"x"'),
    error: `$JSON: weightsManifest[0] is {"__proto__":{"paths":[]},"x":["${shard.slice(0, 30)}`
  },
  { name: "a weight named __proto__", edit: (j) => void (j.weightsManifest[0]!.weights[0]!["name"] = "__proto__"), error: "$JSON: tfjs cannot build the model: Provided weight data has no target variable: ", byTfjs: true },
  { name: "two weights with one name", edit: (j) => void (j.weightsManifest[0]!.weights[1]!["name"] = firstWeight), error: "$JSON: tfjs cannot build the model: 1 of 60 weights are not set: bn1/gamma", byTfjs: true },
  { name: "a layer class named __proto__", edit: (j) => void (j.modelTopology.config.layers[1]!["class_name"] = "__proto__"), error: "$JSON: tfjs cannot build the model: Unknown layer: Proto.", byTfjs: true },
  // Code: tfjs-layers has no layer that evaluates code; a Lambda (Keras' code-carrying layer) is unknown.
  {
    name: "a Keras Lambda layer carrying code",
    edit: (j, box) => void (j.modelTopology.config.layers[1] = { class_name: "Lambda", name: "conv1", config: { name: "conv1", function: code(box), function_type: "lambda" }, inbound_nodes: [] }),
    error: "$JSON: tfjs cannot build the model: Unknown layer: Lambda.",
    byTfjs: true
  }
]

describe("hostile model.json folders: loadModel refuses them by name, reads nothing outside, runs nothing, writes nothing", () => {
  for (const c of modelCases) {
    it(`${c.name}${c.byTfjs === true ? " (refused by tfjs-layers, named by loadModel)" : ""}`, async () => {
      const box = sandbox()
      const json = JSON.parse(JSON.stringify(good)) as ModelJson
      writeFileSync(box.json, c.edit?.(json, box) ?? JSON.stringify(json))
      c.files?.(box)
      const before = snapshot(box.dir)
      const tensors = tf.memory().numTensors
      const message = await refusal(() => loadModel(box.model))
      expect(message).toMatch(new RegExp(`^${escape(`dir: ${c.error.replaceAll("$JSON", box.json).replaceAll("$DIR", box.model)}`)}`))
      // tfjs-layers builds the model's variables and decodes the weights before it checks them against
      // each other, and frees neither when that check throws (loadLayersModelFromIOHandler): those
      // refusals leave the model's tensors behind; every refusal of loadModel's own leaves none.
      const left = tf.memory().numTensors - tensors
      if (c.byTfjs === true) console.log(`${c.name}: tfjs-layers left ${left} tensors behind`)
      expect(c.byTfjs === true || left === 0).toBe(true)
      expect(snapshot(box.dir)).toEqual(before)
      expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined()
      rmSync(box.dir, { recursive: true })
    })
  }

  it("control: __proto__ keys inside a layer's config are plain keys: the model loads, no prototype changes", async () => {
    const box = sandbox()
    writeFileSync(box.json, JSON.stringify(good).replace('"class_name":"Conv2D","config":{', '"class_name":"Conv2D","config":{"__proto__":{"polluted":true,"filters":99},'))
    const model = await loadModel(box.model)
    expect(model.layers[1]!.getConfig()["filters"]).toBe(2)
    model.dispose()
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined()
  })
})

// ---- safetensors ----

/** A safetensors file from a header given as text (so duplicate keys can be written) and data bytes. */
const safetensors = (header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array => {
  const json = new TextEncoder().encode(header)
  const out = new Uint8Array(8 + json.byteLength + data.byteLength)
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true)
  out.set(json, 8)
  out.set(data, 8 + json.byteLength)
  return out
}

/** A header entry of one float32 value at byte `begin`. */
const floatAt = (begin: number) => `{"dtype":"F32","shape":[1],"data_offsets":[${begin},${begin + 4}]}`

describe("hostile safetensors files: loadTorchvisionWeights refuses them by name and changes nothing", () => {
  let model: tfl.LayersModel
  beforeAll(() => {
    model = resnet({ depth: 18, baseWidth: 2, stem: "cifar", blocksPerGroup: [1, 1, 1, 1], inputShape: [8, 8, 3], seed: 6 })
  })
  afterAll(() => model.dispose())

  /** Writes the file (or makes it with `bytes(path)`), loads it, checks nothing changed; returns the message with the path as $PATH. */
  const refused = async (file: string, bytes: Uint8Array | ((path: string) => void)): Promise<string> => {
    const dir = mkdtempSync(join(root, "st-"))
    const path = join(dir, file)
    if (typeof bytes === "function") bytes(path)
    else writeFileSync(path, bytes)
    const before = snapshot(dir)
    const weights = model.getWeights().map((w) => Array.from(w.dataSync()))
    const tensors = tf.memory().numTensors
    const message = await refusal(() => loadTorchvisionWeights(model, path))
    expect(tf.memory().numTensors).toBe(tensors)
    expect(model.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(weights)
    expect(snapshot(dir)).toEqual(before)
    return message.replaceAll(path, "$PATH")
  }

  it("a tensor whose element count passes 2⁵³ (2²⁶ × 2²⁶ × 2²⁶ floats in 4 bytes): refused before any allocation", async () => {
    const header = JSON.stringify({ "conv1.weight": { dtype: "F32", shape: [2 ** 26, 2 ** 26, 2 ** 26], data_offsets: [0, 4] } })
    expect(await refused("huge.safetensors", safetensors(header, new Uint8Array(4)))).toBe(`weights: $PATH: tensor "conv1.weight": data_offsets [0, 4] do not hold ${2 ** 78} × 4 bytes`)
  })

  it("one tensor name twice in the header (JSON keeps the last): the first entry's bytes belong to no tensor", async () => {
    const twice = safetensors(`{"conv1.weight":${floatAt(0)},"conv1.weight":${floatAt(4)}}`, new Uint8Array(8))
    expect(await refused("twice.safetensors", twice)).toBe('weights: $PATH: data bytes [0, 4) belong to no tensor (before tensor "conv1.weight")')
  })

  it("an entry whose dtype, shape and offsets sit under __proto__: not inherited, the entry has no dtype", async () => {
    const proto = safetensors(`{"conv1.weight":{"__proto__":${floatAt(0)}}}`, new Uint8Array(4))
    expect(await refused("proto.safetensors", proto)).toMatch(/^weights: \$PATH: tensor "conv1\.weight": unsupported dtype undefined/)
  })

  it("a weights path that is a link to /dev/zero, a FIFO or a folder: refused unread (before the fix /dev/zero was read until memory ran out, a FIFO blocked)", async () => {
    const messages = [
      await refused("zero.safetensors", (path) => symlinkSync("/dev/zero", path)),
      await refused("fifo.safetensors", (path) => expect(spawnSync("mkfifo", [path]).status).toBe(0)),
      await refused("folder.safetensors", (path) => mkdirSync(path))
    ]
    expect(messages).toEqual(Array.from({ length: 3 }, () => "pathOrBytes: cannot read $PATH: not a regular file"))
  })
})
