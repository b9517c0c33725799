import * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import { describe, InvalidArgumentError } from "@simclr/core"
import { readSafetensors, type SafeTensor } from "./internal/safetensors.ts"

/**
 * What {@link loadTorchvisionWeights} did.
 *
 * @since 0.1.0
 * @category models
 */
export interface TorchvisionLoadReport {
  /** torchvision parameter and buffer names that were set. */
  readonly loaded: ReadonlyArray<string>
  /** Names in the file that were skipped (`num_batches_tracked`, the `fc.` classifier by default). */
  readonly ignored: ReadonlyArray<string>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TorchvisionLoadOptions {
  /** Names in the file to skip. Default: `num_batches_tracked` buffers and the `fc.` classifier. */
  readonly ignore?: (name: string) => boolean
}

const defaultIgnore = (name: string): boolean => name.endsWith(".num_batches_tracked") || name.startsWith("fc.")

const shapeText = (shape: ReadonlyArray<number | null>) => `[${shape.join(", ")}]`

/**
 * Sets every weight of a {@link resnet} model from a `.safetensors` file holding a torchvision ResNet
 * `state_dict` (as `safetensors.torch.save_file(model.state_dict(), path)` writes it): convolution
 * kernels OIHW → HWIO, batch norm weight, bias, running_mean, running_var. Layer names are torchvision's,
 * so parameters map by name. Nothing changes unless every weight of the model is found with the right
 * shape and nothing unexpected is left: otherwise an `InvalidArgumentError` lists the missing,
 * unexpected and mis-shaped names. A truncated or malformed file gets a clear error; safetensors is pure
 * data, so nothing in the file can execute code.
 *
 * @param pathOrBytes a file path (read with `node:fs`, Node only) or the file's bytes (any runtime).
 * @example
 * ```ts
 * const encoder = resnet({ depth: 50 })
 * await loadTorchvisionWeights(encoder, "resnet50.safetensors")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const loadTorchvisionWeights = async (
  model: tfl.LayersModel,
  pathOrBytes: string | Uint8Array | ArrayBuffer,
  options: TorchvisionLoadOptions = {}
): Promise<TorchvisionLoadReport> => {
  let bytes: Uint8Array
  let source: string
  if (typeof pathOrBytes === "string") {
    const { readFile, stat } = await import("node:fs/promises")
    try {
      // A device or pipe (a weights file linked to /dev/zero) would be read until memory runs out.
      if (!(await stat(pathOrBytes)).isFile()) throw new Error("not a regular file")
      bytes = new Uint8Array(await readFile(pathOrBytes))
    } catch (cause) {
      throw new InvalidArgumentError("pathOrBytes", `cannot read ${pathOrBytes}: ${(cause as Error).message}`)
    }
    source = pathOrBytes
  } else if (pathOrBytes instanceof Uint8Array || pathOrBytes instanceof ArrayBuffer) {
    bytes = pathOrBytes instanceof Uint8Array ? pathOrBytes : new Uint8Array(pathOrBytes)
    source = "the weights bytes"
  } else {
    throw new InvalidArgumentError("pathOrBytes", `expected a file path, a Uint8Array or an ArrayBuffer, got ${describe(pathOrBytes)}`)
  }
  return applyTorchvisionState(model, readSafetensors(bytes, source), options)
}

/** @internal maps a parsed state dict onto the model, all or nothing */
export const applyTorchvisionState = (
  model: tfl.LayersModel,
  state: ReadonlyMap<string, SafeTensor>,
  options: TorchvisionLoadOptions = {}
): TorchvisionLoadReport => {
  const ignore = options.ignore ?? defaultIgnore
  const used = new Set<string>()
  const missing: Array<string> = []
  const misshaped: Array<string> = []
  const plan: Array<{ layer: tfl.layers.Layer; values: Array<{ data: Float32Array; shape: Array<number> }> }> = []

  for (const layer of model.layers) {
    const weights = layer.getWeights()
    if (weights.length === 0) continue
    const className = layer.getClassName()
    const expected = weights.map((w) => w.shape)
    let names: Array<string>
    let convert: (t: SafeTensor) => { data: Float32Array; shape: Array<number> }
    if (className === "BatchNormalization") {
      names = ["weight", "bias", "running_mean", "running_var"].map((p) => `${layer.name}.${p}`)
      convert = (t) => ({ data: t.values, shape: [...t.shape] })
    } else if (className === "Conv2D") {
      names = [`${layer.name}.weight`]
      // OIHW → HWIO
      convert = (t) => {
        const [o, i, h, w] = t.shape as [number, number, number, number]
        const out = new Float32Array(t.values.length)
        for (let a = 0; a < o; a++)
          for (let b = 0; b < i; b++)
            for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[((y * w + x) * i + b) * o + a] = t.values[((a * i + b) * h + y) * w + x]!
        return { data: out, shape: [h, w, i, o] }
      }
    } else if (className === "Dense") {
      names = weights.length === 2 ? [`${layer.name}.weight`, `${layer.name}.bias`] : [`${layer.name}.weight`]
      // torch Linear [out, in] → [in, out]
      convert = (t) => {
        if (t.shape.length !== 2) return { data: t.values, shape: [...t.shape] }
        const [o, i] = t.shape as [number, number]
        const out = new Float32Array(t.values.length)
        for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) out[b * o + a] = t.values[a * i + b]!
        return { data: out, shape: [i, o] }
      }
    } else {
      names = weights.map((_w, i) => `${layer.name}.${i}`)
      convert = (t) => ({ data: t.values, shape: [...t.shape] })
    }
    const values: Array<{ data: Float32Array; shape: Array<number> }> = []
    names.forEach((name, i) => {
      const t = state.get(name)
      if (t === undefined) {
        missing.push(name)
        return
      }
      used.add(name)
      const converted = convert(t)
      if (converted.shape.join(",") !== expected[i]!.join(",")) {
        misshaped.push(`${name}: file ${shapeText(t.shape)} → ${shapeText(converted.shape)}, model expects ${shapeText(expected[i]!)}`)
        return
      }
      values.push(converted)
    })
    plan.push({ layer, values })
  }
  const ignored: Array<string> = []
  const unexpected: Array<string> = []
  for (const name of state.keys()) {
    if (used.has(name)) continue
    if (ignore(name)) ignored.push(name)
    else unexpected.push(name)
  }
  if (missing.length + unexpected.length + misshaped.length > 0) {
    const parts = [
      missing.length > 0 ? `missing ${missing.length}: ${missing.slice(0, 12).join(", ")}${missing.length > 12 ? ", …" : ""}` : "",
      unexpected.length > 0 ? `unexpected ${unexpected.length}: ${unexpected.slice(0, 12).join(", ")}${unexpected.length > 12 ? ", …" : ""}` : "",
      misshaped.length > 0 ? `wrong shape ${misshaped.length}: ${misshaped.slice(0, 6).join("; ")}${misshaped.length > 6 ? "; …" : ""}` : ""
    ].filter((p) => p !== "")
    throw new InvalidArgumentError("weights", `the file does not match model "${model.name}" (nothing was changed): ${parts.join(" | ")}`)
  }
  for (const { layer, values } of plan) {
    const tensors = values.map((v) => tf.tensor(v.data, v.shape, "float32"))
    layer.setWeights(tensors)
    tf.dispose(tensors)
  }
  return { loaded: [...used].toSorted(), ignored: ignored.toSorted() }
}
