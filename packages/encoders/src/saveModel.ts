import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { InvalidArgumentError } from "./SimclrError.ts"

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
  const count = spec.shape.reduce((a, b) => a * b, 1)
  const fail = (message: string): never => {
    throw new InvalidArgumentError("dir", `${jsonPath}: weight "${spec.name}" ${message}`)
  }
  const q = spec.quantization
  if (q !== undefined) {
    const bytes = typeof q.dtype === "string" && Object.hasOwn(QUANTIZED_BYTES, q.dtype) ? QUANTIZED_BYTES[q.dtype] : undefined
    if (bytes === undefined) return fail(`has quantization ${JSON.stringify(q)}; tfjs dequantizes only uint8, uint16 and float16`)
    if (q.dtype === "float16" && spec.dtype !== "float32") return fail(`is ${spec.dtype} quantized as float16; tfjs dequantizes float16 only to float32`)
    if (q.dtype !== "float16" && !(typeof q.scale === "number" && typeof q.min === "number")) return fail(`has quantization ${JSON.stringify(q)} without the numbers scale and min`)
    if (spec.dtype !== "float32" && spec.dtype !== "int32") return fail(`is ${spec.dtype} quantized as ${q.dtype}; tfjs dequantizes only to float32 or int32`)
    return count * bytes!
  }
  const bytes = Object.hasOwn(VALUE_BYTES, spec.dtype) ? VALUE_BYTES[spec.dtype] : undefined
  if (bytes === undefined) return fail(`has dtype ${JSON.stringify(spec.dtype)}; a layers model stores float32, int32 or bool weights`)
  return count * bytes!
}

/**
 * Loads a model saved by {@link saveModel}, or any TF.js layers-format folder (`model.json` and the
 * binary shards its `weightsManifest` names, as `tfjs.converters.save_keras_model` or
 * `tensorflowjs_converter` write them), with Node's fs; the encoders' custom layers are registered.
 * Weights may be float32, int32 or bool, or quantized as the converter's `--quantize_uint8`,
 * `--quantize_uint16` and `--quantize_float16` write them; tfjs dequantizes them on load
 * (`q · scale + min`, or float16 → float32). Missing or corrupt files, shards whose size differs from
 * what the manifest describes, and weights tfjs cannot decode (string weights, another quantization)
 * get an `InvalidArgumentError` naming the file or the weight.
 *
 * @since 0.1.0
 * @category resource management
 */
export const loadModel = async (dir: string): Promise<tfl.LayersModel> => {
  const { fs, path } = await nodeModules()
  const jsonPath = path.join(dir, "model.json")
  let modelJson: tf.io.ModelJSON
  try {
    modelJson = JSON.parse(await fs.readFile(jsonPath, "utf8")) as tf.io.ModelJSON
  } catch (cause) {
    throw new InvalidArgumentError("dir", `cannot read ${jsonPath}: ${(cause as Error).message}`)
  }
  const manifest = modelJson.weightsManifest
  if (!Array.isArray(manifest) || modelJson.modelTopology === undefined) {
    throw new InvalidArgumentError("dir", `${jsonPath} is not a TF.js layers model (no modelTopology or weightsManifest)`)
  }
  const buffers: Array<ArrayBuffer> = []
  for (const group of manifest) {
    for (const shard of group.paths) {
      const file = path.join(dir, shard)
      try {
        const bytes = await fs.readFile(file)
        buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer)
      } catch (cause) {
        throw new InvalidArgumentError("dir", `cannot read weight shard ${file}: ${(cause as Error).message}`)
      }
    }
  }
  const specs = manifest.flatMap((g) => g.weights)
  const expected = specs.reduce((total, spec) => total + weightBytes(spec, jsonPath), 0)
  const actual = buffers.reduce((n, b) => n + b.byteLength, 0)
  if (actual !== expected) {
    throw new InvalidArgumentError("dir", `weight shards in ${dir} hold ${actual} bytes but model.json describes ${expected}`)
  }
  return tfl.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: modelJson.modelTopology,
      weightSpecs: specs,
      weightData: buffers,
      format: modelJson.format,
      generatedBy: modelJson.generatedBy,
      convertedBy: modelJson.convertedBy
    })
  )
}
