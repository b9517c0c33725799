/**
 * Checkpoints of a training run: every weight of the model (batch-norm statistics included), the
 * optimiser's slots, the step, the data-stream position, any JSON state (RNG seeds, metrics) and the
 * config, in one folder per checkpoint. A checkpoint is written under a temporary name and renamed into
 * place, so a crash at any moment leaves either the previous checkpoints or the new one complete; a
 * checksum catches a damaged file, and reading falls back to the newest intact checkpoint.
 *
 *   <dir>/step-00001200/checkpoint.json   manifest: step, position, state, config, tensor table, crc32
 *   <dir>/step-00001200/tensors.bin       every tensor's float32/int32 bytes, one after another
 *
 * @since 0.1.0
 */
import type { StreamPosition } from "@simclr/data-stream"
import * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import { Data, Effect, Option } from "effect"
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { crc32 } from "node:zlib"
import type { OptimizerState } from "./optimizers.ts"

/**
 * A checkpoint could not be written or read.
 *
 * @category errors
 * @since 0.1.0
 */
export class CheckpointError extends Data.TaggedError("CheckpointError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `checkpoint ${this.path}: ${this.reason}`
  }
}

interface TensorEntry {
  readonly name: string
  readonly shape: ReadonlyArray<number>
  readonly dtype: "float32" | "int32"
  /** Byte offset in tensors.bin. */
  readonly offset: number
}

interface Manifest {
  readonly format: "simclr-checkpoint"
  readonly version: 1
  readonly step: number
  readonly position: StreamPosition | undefined
  readonly state: unknown
  readonly config: unknown
  readonly optimizer: { readonly step: number; readonly slots: ReadonlyArray<string> }
  readonly tensors: ReadonlyArray<TensorEntry>
  readonly bytes: number
  readonly crc32: number
}

/**
 * What a checkpoint holds, as read back: tensors as typed arrays (no tfjs memory is used until
 * `restoreCheckpoint`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Checkpoint {
  readonly path: string
  readonly step: number
  readonly position: StreamPosition | undefined
  readonly state: unknown
  readonly config: unknown
  /** Model weights by name (tfjs-layers names). */
  readonly weights: ReadonlyMap<string, { readonly shape: ReadonlyArray<number>; readonly values: Float32Array | Int32Array }>
  /** Optimiser slots: slot name → weight name → values. */
  readonly slots: ReadonlyMap<string, ReadonlyMap<string, { readonly shape: ReadonlyArray<number>; readonly values: Float32Array | Int32Array }>>
  readonly optimizerStep: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface CheckpointContents {
  readonly step: number
  readonly model: tfl.LayersModel
  readonly optimizerState: OptimizerState
  /** Weights outside the model saved with it (the online probe's `head_supervised/…`). */
  readonly extraWeights?: Readonly<Record<string, tf.Tensor>> | undefined
  readonly position?: StreamPosition | undefined
  /** Any JSON-serialisable run state (seeds, counters, the last metrics). */
  readonly state?: unknown
  readonly config?: unknown
}

const NAME = /^step-(\d{8,})$/

const folderName = (step: number): string => `step-${String(step).padStart(8, "0")}`

/** Every weight of the model (and the extra weights) by its name; two weights with one name are an error. */
const modelWeights = (model: tfl.LayersModel, extra: Readonly<Record<string, tf.Tensor>> = {}): Map<string, tf.Tensor> => {
  const out = new Map<string, tf.Tensor>()
  const named: Array<[string, tf.Tensor]> = [...model.weights.map((w): [string, tf.Tensor] => [w.originalName, w.read()]), ...Object.entries(extra)]
  for (const [name, t] of named) {
    if (out.has(name)) throw new Error(`two weights are named "${name}"`)
    out.set(name, t)
  }
  return out
}

/** The prefix of the online probe's weights, which a checkpoint may hold besides the model's. */
const PROBE_PREFIX = "head_supervised/"

/**
 * Writes a checkpoint into `dir` (created if needed) atomically, then deletes all but the newest
 * `keep` checkpoints. Returns the checkpoint's folder.
 *
 * @category checkpoints
 * @since 0.1.0
 */
export const writeCheckpoint = (dir: string, contents: CheckpointContents, keep = 5): Effect.Effect<string, CheckpointError> =>
  Effect.gen(function*() {
    if (!(Number.isInteger(keep) && keep >= 1)) return yield* new CheckpointError({ path: dir, reason: `keep: got ${keep}; allowed: an integer ≥ 1` })
    const final = join(dir, folderName(contents.step))
    // Read every tensor now (synchronously), so training can go on while the files are written.
    const serialised = yield* Effect.try({
      try: () => {
        const tensors: Array<[string, tf.Tensor]> = [...modelWeights(contents.model, contents.extraWeights)].map(([n, t]) => [`model/${n}`, t])
        const slotNames = Object.keys(contents.optimizerState.slots)
        for (const slot of slotNames) {
          for (const [n, t] of Object.entries(contents.optimizerState.slots[slot]!)) tensors.push([`slot/${slot}/${n}`, t])
        }
        const entries: Array<TensorEntry> = []
        const arrays: Array<Float32Array | Int32Array> = []
        let offset = 0
        for (const [name, t] of tensors) {
          if (t.dtype !== "float32" && t.dtype !== "int32") throw new Error(`${name} has dtype ${t.dtype}; only float32 and int32 are saved`)
          const values = t.dataSync() as Float32Array | Int32Array
          entries.push({ name, shape: t.shape, dtype: t.dtype, offset })
          arrays.push(values)
          offset += values.byteLength
        }
        // One copy, straight into the file's buffer.
        const data = new Uint8Array(offset)
        arrays.forEach((values, i) => data.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), entries[i]!.offset))
        const table: Manifest = {
          format: "simclr-checkpoint",
          version: 1,
          step: contents.step,
          position: contents.position,
          state: contents.state ?? null,
          config: contents.config ?? null,
          optimizer: { step: contents.optimizerState.step, slots: slotNames },
          tensors: entries,
          bytes: data.length,
          crc32: crc32(data)
        }
        return { manifest: table, data }
      },
      catch: (error) => new CheckpointError({ path: final, reason: error instanceof Error ? error.message : String(error) })
    })
    yield* Effect.tryPromise({
      try: async () => {
        await mkdir(dir, { recursive: true })
        const temp = join(dir, `.tmp-${folderName(contents.step)}-${process.pid}-${Date.now()}`)
        await mkdir(temp)
        try {
          await writeFile(join(temp, "tensors.bin"), serialised.data, { flush: true })
          await writeFile(join(temp, "checkpoint.json"), JSON.stringify(serialised.manifest), { flush: true })
          await rm(final, { recursive: true, force: true })
          await rename(temp, final)
        } catch (error) {
          await rm(temp, { recursive: true, force: true })
          throw error
        }
        const all = (await readdir(dir)).filter((n) => NAME.test(n)).toSorted()
        for (const old of all.slice(0, Math.max(0, all.length - keep))) await rm(join(dir, old), { recursive: true, force: true })
        // Temporary folders of writers that crashed (another process id) are removed.
        for (const leftover of (await readdir(dir)).filter((n) => n.startsWith(".tmp-") && !n.includes(`-${process.pid}-`))) {
          await rm(join(dir, leftover), { recursive: true, force: true })
        }
      },
      catch: (error) => new CheckpointError({ path: final, reason: error instanceof Error ? error.message : String(error) })
    })
    return final
  })

const readOne = (path: string): Effect.Effect<Checkpoint, CheckpointError> =>
  Effect.tryPromise({
    try: async () => {
      const manifest = JSON.parse(await readFile(join(path, "checkpoint.json"), "utf8")) as Manifest
      if (manifest.format !== "simclr-checkpoint" || manifest.version !== 1) throw new Error("not a simclr checkpoint (format/version)")
      const raw = await readFile(join(path, "tensors.bin"))
      const data = new Uint8Array(raw.buffer, raw.byteOffset, raw.length)
      if (data.length !== manifest.bytes) throw new Error(`tensors.bin has ${data.length} bytes, the manifest says ${manifest.bytes}`)
      if (crc32(data) !== manifest.crc32) throw new Error("tensors.bin fails its checksum")
      const weights = new Map<string, { shape: ReadonlyArray<number>; values: Float32Array | Int32Array }>()
      const slots = new Map<string, Map<string, { shape: ReadonlyArray<number>; values: Float32Array | Int32Array }>>()
      for (const e of manifest.tensors) {
        const count = e.shape.reduce((a, b) => a * b, 1)
        const copy = data.slice(e.offset, e.offset + 4 * count)
        const values = e.dtype === "int32" ? new Int32Array(copy.buffer) : new Float32Array(copy.buffer)
        if (e.name.startsWith("model/")) weights.set(e.name.slice(6), { shape: e.shape, values })
        else {
          const [, slot, ...rest] = e.name.split("/")
          if (!slots.has(slot!)) slots.set(slot!, new Map())
          slots.get(slot!)!.set(rest.join("/"), { shape: e.shape, values })
        }
      }
      return {
        path,
        step: manifest.step,
        position: manifest.position ?? undefined,
        state: manifest.state,
        config: manifest.config,
        weights,
        slots,
        optimizerStep: manifest.optimizer.step
      } satisfies Checkpoint
    },
    catch: (error) => new CheckpointError({ path, reason: error instanceof Error ? error.message : String(error) })
  })

/**
 * The newest intact checkpoint in `dir`, or none. A damaged newest checkpoint is reported with
 * `Effect.logWarning` and the next older one is tried.
 *
 * @category checkpoints
 * @since 0.1.0
 */
export const readLatestCheckpoint = (dir: string): Effect.Effect<Option.Option<Checkpoint>> =>
  Effect.gen(function*() {
    const names = yield* Effect.promise(() => readdir(dir).catch(() => [] as Array<string>))
    const candidates = names.filter((n) => NAME.test(n)).toSorted().toReversed()
    for (const name of candidates) {
      const result = yield* Effect.result(readOne(join(dir, name)))
      if (result._tag === "Success") return Option.some(result.success)
      yield* Effect.logWarning(`skipping damaged checkpoint: ${result.failure.message}`)
    }
    return Option.none()
  })

/**
 * Sets the model's weights (and `extraWeights`, e.g. the online probe's) from a checkpoint and returns
 * the optimiser state (new tensors the caller owns). Every weight must be in the checkpoint with its
 * shape, and nothing else, except that without `extraWeights` a saved online probe is ignored (with its
 * optimiser slots), so an encoder can be loaded without it.
 *
 * @category checkpoints
 * @since 0.1.0
 */
export const restoreCheckpoint = (checkpoint: Checkpoint, model: tfl.LayersModel, extraWeights?: Readonly<Record<string, tf.Variable>>): OptimizerState => {
  const weights = modelWeights(model, extraWeights)
  const missing = [...weights.keys()].filter((n) => !checkpoint.weights.has(n))
  // Without extraWeights, the online probe's weights are not asked for and are left in the file.
  const unexpected = [...checkpoint.weights.keys()].filter((n) => !weights.has(n) && !(extraWeights === undefined && n.startsWith(PROBE_PREFIX)))
  if (missing.length > 0 || unexpected.length > 0) {
    throw new CheckpointError({ path: checkpoint.path, reason: `does not fit the model: missing ${JSON.stringify(missing)}, unexpected ${JSON.stringify(unexpected)}` })
  }
  for (const [name, t] of weights) {
    const saved = checkpoint.weights.get(name)!
    if (!tf.util.arraysEqual(saved.shape as Array<number>, t.shape)) {
      throw new CheckpointError({ path: checkpoint.path, reason: `${name} has shape [${saved.shape}] in the checkpoint, [${t.shape}] in the model` })
    }
  }
  for (const [name, t] of weights) {
    const saved = checkpoint.weights.get(name)!
    const value = tf.tensor(saved.values, saved.shape as Array<number>, t.dtype)
    ;(t as tf.Variable).assign(value)
    value.dispose()
  }
  const slots: Record<string, Record<string, tf.Tensor>> = {}
  for (const [slot, entries] of checkpoint.slots) {
    const wanted = [...entries].filter(([n]) => weights.has(n))
    slots[slot] = Object.fromEntries(wanted.map(([n, v]) => [n, tf.tensor(v.values, v.shape as Array<number>)]))
  }
  return { step: checkpoint.optimizerStep, slots }
}
