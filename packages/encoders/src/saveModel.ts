import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { describe, InvalidArgumentError } from "@simclr/core"

/** Weight shards of at most 4 MiB, as the tfjs converter writes them (browsers cache them separately). */
const SHARD_BYTES = 4 * 1024 * 1024

const nodeModules = async () => {
  const [fs, path, crypto] = await Promise.all([import("node:fs/promises"), import("node:path"), import("node:crypto")])
  return { fs, path, crypto }
}

/**
 * Saves a layers model in the standard TF.js layers format — `model.json` plus binary weight shards
 * (`group1-<id>-shardNofM.bin`, ≤ 4 MiB) — loadable by `tf.loadLayersModel` in Node or a browser, using
 * Node's fs (no tfjs-node). Atomic: every file is written and fsynced under a temporary name and
 * renamed into place — the shards first, `model.json` last — so the folder holds the old model or the
 * new one, never a mix, whatever moment a crash comes; stale shards and leftovers are removed afterwards.
 *
 * @example
 * ```ts
 * await saveModel(encoder, "runs/exp1/export")
 * const again = await loadModel("runs/exp1/export")
 * ```
 *
 * @since 0.1.0
 * @category resource management
 */
export const saveModel = async (model: tfl.LayersModel, dir: string): Promise<{ readonly files: ReadonlyArray<string>; readonly bytes: number }> => {
  if (typeof dir !== "string" || dir === "") throw new InvalidArgumentError("dir", `expected a folder path, got ${String(dir)}`)
  const { fs, path, crypto } = await nodeModules()
  let written: { files: Array<string>; bytes: number } = { files: [], bytes: 0 }
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      await fs.mkdir(dir, { recursive: true })
      const whole = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData))
      const id = crypto.createHash("sha256").update(whole).digest("hex").slice(0, 12)
      const count = Math.max(1, Math.ceil(whole.byteLength / SHARD_BYTES))
      const shards = Array.from({ length: count }, (_v, i) => `group1-${id}-shard${i + 1}of${count}.bin`)
      // Shard names come from the content, so saving the same weights again reuses the names the
      // current model.json points at: write each shard under a temporary name and rename it into place,
      // so a shard file is never truncated or half-written under its final name.
      for (const [i, name] of shards.entries()) {
        const temp = path.join(dir, `${name}.${process.pid}.tmp`)
        const file = await fs.open(temp, "w")
        try {
          await file.writeFile(whole.subarray(i * SHARD_BYTES, Math.min((i + 1) * SHARD_BYTES, whole.byteLength)))
          await file.sync()
        } finally {
          await file.close()
        }
        await fs.rename(temp, path.join(dir, name))
      }
      const modelJson = {
        format: "layers-model",
        generatedBy: `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
        convertedBy: "@simclr/encoders saveModel",
        modelTopology: artifacts.modelTopology,
        ...(artifacts.trainingConfig === undefined ? {} : { trainingConfig: artifacts.trainingConfig }),
        weightsManifest: [{ paths: shards, weights: artifacts.weightSpecs ?? [] }]
      }
      const temp = path.join(dir, `model.json.${process.pid}.${id}.tmp`)
      const file = await fs.open(temp, "w")
      try {
        await file.writeFile(JSON.stringify(modelJson))
        await file.sync()
      } finally {
        await file.close()
      }
      await fs.rename(temp, path.join(dir, "model.json"))
      // Make the rename durable, then drop shards the new model.json does not name.
      const folder = await fs.open(dir, "r")
      try {
        await folder.sync()
      } finally {
        await folder.close()
      }
      // Also remove temporary files a killed save left behind.
      const keep = new Set(shards)
      for (const entry of await fs.readdir(dir)) {
        const stale = /^group1-[0-9a-f]{12}-shard\d+of\d+\.bin$/.test(entry) && !keep.has(entry)
        const leftover = entry.endsWith(".tmp")
        if (stale || leftover) await fs.rm(path.join(dir, entry), { force: true })
      }
      written = { files: ["model.json", ...shards], bytes: whole.byteLength }
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON", weightDataBytes: whole.byteLength } }
    })
  )
  return written
}

/** Bytes per stored value, as tfjs's `decodeWeights` reads them. */
const VALUE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 }
const QUANTIZED_BYTES: Record<string, number> = { uint8: 1, uint16: 2, float16: 2 }

/**
 * The bytes one manifest entry occupies in the shards, or an error naming the weight when tfjs cannot
 * decode it (string weights, which no layers model has, and quantizations other than uint8, uint16 and
 * float16).
 */
const weightBytes = (spec: tf.io.WeightsManifestEntry, jsonPath: string): number => {
  const fail = (message: string): never => {
    throw new InvalidArgumentError("dir", `${jsonPath}: weight "${spec.name}" ${message}`)
  }
  const shape: unknown = spec.shape
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return fail(`has shape ${describe(shape)}; expected an array of integers ≥ 0`)
  const count = (shape as Array<number>).reduce((a, b) => a * b, 1)
  if (!Number.isSafeInteger(8 * count)) return fail(`has shape ${describe(shape)}: ${count} values, more than any file holds`)
  const q = spec.quantization
  if (q !== undefined) {
    const bytes = typeof q.dtype === "string" && Object.hasOwn(QUANTIZED_BYTES, q.dtype) ? QUANTIZED_BYTES[q.dtype] : undefined
    if (bytes === undefined) return fail(`has quantization ${JSON.stringify(q)}; tfjs dequantizes only uint8, uint16 and float16`)
    if (q.dtype === "float16" && spec.dtype !== "float32") return fail(`is ${spec.dtype} quantized as float16; tfjs dequantizes float16 only to float32`)
    if (q.dtype !== "float16" && !(typeof q.scale === "number" && typeof q.min === "number")) return fail(`has quantization ${JSON.stringify(q)} without the numbers scale and min`)
    if (spec.dtype !== "float32" && spec.dtype !== "int32") return fail(`is ${spec.dtype} quantized as ${q.dtype}; tfjs dequantizes only to float32 or int32`)
    return count * bytes!
  }
  const bytes = typeof spec.dtype === "string" && Object.hasOwn(VALUE_BYTES, spec.dtype) ? VALUE_BYTES[spec.dtype] : undefined
  if (bytes === undefined) return fail(`has dtype ${JSON.stringify(spec.dtype)}; a layers model stores float32, int32 or bool weights`)
  return count * bytes!
}

/**
 * The manifest's groups, checked: each `{ paths, weights }` with shard paths that stay inside the model
 * folder (relative, no `..`: a model.json must not make the loader read files elsewhere) and named weights.
 */
const checkManifest = (manifest: unknown, jsonPath: string, isAbsolute: (p: string) => boolean): tf.io.WeightsManifestConfig => {
  const fail = (message: string): never => {
    throw new InvalidArgumentError("dir", `${jsonPath}: weightsManifest${message}`)
  }
  if (!Array.isArray(manifest)) return fail(` is ${describe(manifest)}; expected an array of { paths, weights } groups`)
  for (const [g, group] of (manifest as Array<unknown>).entries()) {
    const { paths, weights } = (typeof group === "object" && group !== null ? group : {}) as { paths?: unknown; weights?: unknown }
    if (!Array.isArray(paths) || !Array.isArray(weights)) return fail(`[${g}] is ${describe(group)}; expected { paths: [file names], weights: [entries] }`)
    for (const p of paths as Array<unknown>) {
      if (typeof p !== "string" || p === "" || isAbsolute(p) || p.split(/[\\/]/).includes("..")) {
        fail(`[${g}].paths names ${describe(p)}; expected a file name inside the model folder (relative, without "..")`)
      }
    }
    for (const w of weights as Array<unknown>) {
      if (typeof w !== "object" || w === null || typeof (w as { name?: unknown }).name !== "string") fail(`[${g}].weights holds ${describe(w)}; expected { name, shape, dtype }`)
    }
  }
  return manifest as tf.io.WeightsManifestConfig
}

/**
 * Loads a model saved by {@link saveModel}, or any TF.js layers-format folder (`model.json` and the
 * binary shards its `weightsManifest` names, as `tfjs.converters.save_keras_model` or
 * `tensorflowjs_converter` write them), with Node's fs; the encoders' custom layers are registered.
 * Weights may be float32, int32 or bool, or quantized as the converter's `--quantize_uint8`,
 * `--quantize_uint16` and `--quantize_float16` write them; tfjs dequantizes them on load
 * (`q · scale + min`, or float16 → float32). Missing or corrupt files, shards whose size differs from
 * what the manifest describes (checked before they are read), weights tfjs cannot decode (string
 * weights, another quantization), malformed manifest entries (shapes that are not integers ≥ 0), shard
 * paths leading out of the folder (absolute, or with `..`) or to anything but a regular file, and
 * topologies or weights tfjs refuses get an `InvalidArgumentError` naming the file and what is wrong.
 * Nothing in the folder is executed: the files are read as JSON and bytes only.
 *
 * @since 0.1.0
 * @category resource management
 */
export const loadModel = async (dir: string): Promise<tfl.LayersModel> => {
  const { fs, path } = await nodeModules()
  const jsonPath = path.join(dir, "model.json")
  /** The file's size; an Error unless it is a regular file (a device or pipe could be read forever). */
  const regularFile = async (file: string): Promise<number> => {
    const info = await fs.stat(file)
    if (!info.isFile()) throw new Error("not a regular file")
    return info.size
  }
  let modelJson: tf.io.ModelJSON
  try {
    await regularFile(jsonPath)
    modelJson = JSON.parse(await fs.readFile(jsonPath, "utf8")) as tf.io.ModelJSON
  } catch (cause) {
    throw new InvalidArgumentError("dir", `cannot read ${jsonPath}: ${(cause as Error).message}`)
  }
  if (typeof modelJson !== "object" || modelJson === null || !Array.isArray(modelJson.weightsManifest) || modelJson.modelTopology === undefined) {
    throw new InvalidArgumentError("dir", `${jsonPath} is not a TF.js layers model (no modelTopology or weightsManifest)`)
  }
  const manifest = checkManifest(modelJson.weightsManifest, jsonPath, path.isAbsolute)
  const specs = manifest.flatMap((g) => g.weights)
  const expected = specs.reduce((total, spec) => total + weightBytes(spec, jsonPath), 0)
  const files = manifest.flatMap((g) => g.paths.map((shard) => path.join(dir, shard)))
  // Sizes first: a shard that is not a regular file, or shards of the wrong total size, are refused unread.
  let actual = 0
  for (const file of files) {
    actual += await regularFile(file).catch((cause: Error) => {
      throw new InvalidArgumentError("dir", `cannot read weight shard ${file}: ${cause.message}`)
    })
  }
  if (actual !== expected) {
    throw new InvalidArgumentError("dir", `weight shards in ${dir} hold ${actual} bytes but model.json describes ${expected}`)
  }
  const buffers: Array<ArrayBuffer> = []
  for (const file of files) {
    try {
      const bytes = await fs.readFile(file)
      buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer)
    } catch (cause) {
      throw new InvalidArgumentError("dir", `cannot read weight shard ${file}: ${(cause as Error).message}`)
    }
  }
  const read = buffers.reduce((n, b) => n + b.byteLength, 0)
  if (read !== expected) {
    throw new InvalidArgumentError("dir", `weight shards in ${dir} hold ${read} bytes but model.json describes ${expected}`)
  }
  try {
    return await tfl.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: modelJson.modelTopology,
        weightSpecs: specs,
        weightData: buffers,
        format: modelJson.format,
        generatedBy: modelJson.generatedBy,
        convertedBy: modelJson.convertedBy
      })
    )
  } catch (cause) {
    // tfjs's own errors (unknown layer classes, weights that do not fit) do not say which file.
    throw new InvalidArgumentError("dir", `${jsonPath}: tfjs cannot build the model: ${(cause as Error).message}`)
  }
}
