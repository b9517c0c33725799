/**
 * Checkpoints of a training run: every weight of the model (batch-norm statistics included), the
 * optimiser's slots, the step, the data-stream position, any JSON state (RNG seeds, metrics) and the
 * config, in one folder per checkpoint. A checkpoint is written under a temporary name and renamed into
 * place, so a crash at any moment leaves either the previous checkpoints or the new one complete (old
 * checkpoints are renamed away before they are deleted, so a crash mid-deletion leaves no half folder).
 * Checksums catch a damaged file (the tensors' bytes and, since version 2, the manifest itself), every
 * field of the manifest is checked before anything is read by it, and reading falls back to the newest
 * intact checkpoint; a folder whose checkpoints are all damaged is an error, not a fresh start.
 *
 *   <dir>/step-00001200/checkpoint.json   manifest: step, position, state, config, tensor table, crc32
 *   <dir>/step-00001200/tensors.bin       every tensor's float32/int32 bytes, back to back in table order
 *
 * checkpoint.json (version 2) is `JSON.stringify(manifest)` with `,"manifestCrc32":N` inserted before its
 * final `}`, N being the CRC32 of the UTF-8 text without it.
 *
 * @since 0.1.0
 */
import type { StreamPosition } from "@simclr/data-stream"
import * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import { Data, Effect, Option } from "effect"
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises"
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
  readonly version: 1 | 2
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
  /** The objective's own tensors (`objectiveTensors` when written: a memory queue, a momentum network's weights), by name. */
  readonly objective: ReadonlyMap<string, { readonly shape: ReadonlyArray<number>; readonly values: Float32Array | Int32Array }>
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
  /**
   * Tensors of the training objective that are not weights of the model (a memory queue, a momentum
   * network's weights), saved under `objective/<name>`; loading the model alone ignores them.
   */
  readonly objectiveTensors?: Readonly<Record<string, tf.Tensor>> | undefined
  readonly position?: StreamPosition | undefined
  /** Any JSON-serialisable run state (seeds, counters, the last metrics). */
  readonly state?: unknown
  readonly config?: unknown
}

const NAME = /^step-(\d{8,})$/

const folderName = (step: number): string => `step-${String(step).padStart(8, "0")}`

/** Checkpoint folder names, oldest first, by their step as a number (names sort wrongly past 8 digits). */
const byStep = (names: ReadonlyArray<string>): Array<string> =>
  names.filter((n) => NAME.test(n)).toSorted((a, b) => {
    const [x, y] = [BigInt(NAME.exec(a)![1]!), BigInt(NAME.exec(b)![1]!)]
    return x < y ? -1 : x > y ? 1 : 0
  })

/**
 * checkpoint.json files larger than this are refused unread. A manifest holds one entry of about 100
 * bytes per tensor (a ResNet-200 ×2 with Adam's two slots: under 5,000 tensors, under 1 MB), the config
 * and the caller's JSON state: 64 MiB leaves room for a large state and keeps a hostile file from being
 * parsed into gigabytes of objects.
 */
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024

const MANIFEST_CRC = ',"manifestCrc32":'

/** The manifest's text, with its own checksum (version 2). */
const manifestText = (manifest: Omit<Manifest, "version">): string => {
  const body = JSON.stringify({ ...manifest, version: 2 })
  return `${body.slice(0, -1)}${MANIFEST_CRC}${crc32(body)}}`
}

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
        for (const [n, t] of Object.entries(contents.objectiveTensors ?? {})) tensors.push([`objective/${n}`, t])
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
        const table: Omit<Manifest, "version"> = {
          format: "simclr-checkpoint",
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
          await writeFile(join(temp, "checkpoint.json"), manifestText(serialised.manifest), { flush: true })
          await rm(final, { recursive: true, force: true })
          await rename(temp, final)
        } catch (error) {
          await rm(temp, { recursive: true, force: true })
          throw error
        }
        const all = byStep(await readdir(dir))
        for (const old of all.slice(0, Math.max(0, all.length - keep))) {
          // Renamed away first: a crash while deleting leaves a temporary folder (removed below by the
          // next writer), never a half-deleted checkpoint under its real name.
          const doomed = join(dir, `.tmp-prune-${old}-${process.pid}-${Date.now()}`)
          await rename(join(dir, old), doomed)
          await rm(doomed, { recursive: true, force: true })
        }
        // Temporary folders of writers that crashed (another process id) are removed.
        for (const leftover of (await readdir(dir)).filter((n) => n.startsWith(".tmp-") && !n.includes(`-${process.pid}-`))) {
          await rm(join(dir, leftover), { recursive: true, force: true })
        }
      },
      catch: (error) => new CheckpointError({ path: final, reason: error instanceof Error ? error.message : String(error) })
    })
    return final
  })

type Entries = Map<string, { shape: ReadonlyArray<number>; values: Float32Array | Int32Array }>

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0
const show = (v: unknown): string => {
  const text = JSON.stringify(v) ?? String(v)
  return text.length > 80 ? `${text.slice(0, 77)}…` : text
}

const bad = (field: string, got: unknown, expected: string): never => {
  throw new Error(`checkpoint.json: ${field} is ${show(got)}; expected ${expected}`)
}

/**
 * Checks every field of a parsed checkpoint.json that reading relies on, and returns it typed; throws
 * an Error naming the field and what is wrong. `step` is the step the folder's name gives.
 */
const checkManifest = (value: unknown, step: bigint): Manifest => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return bad("the manifest", value, "a JSON object")
  const m = value as Record<string, unknown>
  if (m["format"] !== "simclr-checkpoint" || (m["version"] !== 1 && m["version"] !== 2)) {
    return bad("format/version", [m["format"], m["version"]], `["simclr-checkpoint", 1 or 2]: not a simclr checkpoint, or one written by a newer version`)
  }
  if (!isCount(m["step"]) || BigInt(m["step"]) !== step) return bad("step", m["step"], `${step}, the step in the folder's name`)
  const p = m["position"]
  if (p !== undefined && p !== null) {
    const q = p as Record<string, unknown>
    if (typeof p !== "object" || !isCount(q["epoch"]) || !isCount(q["index"]) || !Number.isSafeInteger(q["seed"])) {
      return bad("position", p, "null or { epoch, index, seed } of integers, epoch and index ≥ 0")
    }
  }
  const o = m["optimizer"] as Record<string, unknown> | null
  if (typeof o !== "object" || o === null || !isCount(o["step"]) || !Array.isArray(o["slots"])) return bad("optimizer", o, "{ step: an integer ≥ 0, slots: [names] }")
  const slotNames = o["slots"] as Array<unknown>
  if (!slotNames.every((n) => typeof n === "string" && /^[^/]+$/.test(n)) || new Set(slotNames).size !== slotNames.length) {
    return bad("optimizer.slots", slotNames, "distinct non-empty names without /")
  }
  if (!isCount(m["bytes"])) return bad("bytes", m["bytes"], "an integer ≥ 0")
  if (!(Number.isInteger(m["crc32"]) && (m["crc32"] as number) >= 0 && (m["crc32"] as number) < 2 ** 32)) return bad("crc32", m["crc32"], "an unsigned 32-bit integer")
  const bytes = m["bytes"] as number
  if (!Array.isArray(m["tensors"])) return bad("tensors", m["tensors"], "an array")
  const seen = new Set<string>()
  let offset = 0
  for (const [i, entry] of (m["tensors"] as Array<unknown>).entries()) {
    const e = entry as Record<string, unknown>
    const at = `tensors[${i}]`
    if (typeof entry !== "object" || entry === null) return bad(at, entry, "{ name, shape, dtype, offset }")
    const name = e["name"]
    const parts = typeof name === "string" ? name.split("/") : []
    const named = parts[0] === "model" || parts[0] === "objective" ? parts.length >= 2 : parts[0] === "slot" && parts.length >= 3 && slotNames.includes(parts[1])
    if (typeof name !== "string" || !named || parts.slice(1).some((x) => x === "")) {
      return bad(`${at}.name`, name, `"model/<weight>", "objective/<name>" or "slot/<one of ${show(slotNames)}>/<weight>"`)
    }
    if (seen.has(name)) return bad(`${at}.name`, name, "a name no other tensor has")
    seen.add(name)
    const shape = e["shape"]
    if (!Array.isArray(shape) || !shape.every(isCount)) return bad(`${at}.shape (${name})`, shape, "an array of integers ≥ 0")
    // Multiplied with a bound, so a huge shape cannot overflow into a small count.
    const count = (shape as Array<number>).reduce((a, b) => (a * b > bytes ? bytes + 1 : a * b), 1)
    if (e["dtype"] !== "float32" && e["dtype"] !== "int32") return bad(`${at}.dtype (${name})`, e["dtype"], `"float32" or "int32"`)
    if (e["offset"] !== offset) return bad(`${at}.offset (${name})`, e["offset"], `${offset}: tensors are stored back to back in table order`)
    if (offset + 4 * count > bytes) return bad(`${at}.shape (${name})`, shape, `at most ${Math.floor((bytes - offset) / 4)} values: the ${bytes} bytes end first`)
    offset += 4 * count
  }
  if (offset !== bytes) return bad("bytes", bytes, `${offset}, the tensors' total`)
  return value as Manifest
}

/** The size of `path`; throws unless it is a regular file (not a folder, device or pipe, which could be endless). */
const regularFileSize = async (path: string, label: string): Promise<number> => {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new Error(`${label}: cannot read it (${error.code ?? error.message})`, { cause: error })
  })
  if (!info.isFile()) throw new Error(`${label}: not a regular file`)
  return info.size
}

/** Reads the checkpoint in folder `path` (named `step-NNNNNNNN`), checking every byte it relies on. */
const readOne = (path: string, name: string): Effect.Effect<Checkpoint, CheckpointError> =>
  Effect.tryPromise({
    try: async () => {
      const manifestPath = join(path, "checkpoint.json")
      const size = await regularFileSize(manifestPath, "checkpoint.json")
      if (size > MAX_MANIFEST_BYTES) throw new Error(`checkpoint.json: ${size} bytes, more than the ${MAX_MANIFEST_BYTES} a manifest may have`)
      const raw = await readFile(manifestPath)
      let parsed: unknown
      try {
        parsed = JSON.parse(raw.toString("utf8"))
      } catch (error) {
        throw new Error(`checkpoint.json: not JSON (${error instanceof Error ? error.message : String(error)}): truncated or damaged`, { cause: error })
      }
      if ((parsed as { version?: unknown } | null)?.version === 2) {
        const at = raw.lastIndexOf(MANIFEST_CRC)
        const claim = at < 0 ? "" : raw.subarray(at + MANIFEST_CRC.length, raw.length - 1).toString("latin1")
        if (at < 0 || raw.at(-1) !== 0x7d || !/^\d{1,10}$/.test(claim)) throw new Error(`checkpoint.json: no manifestCrc32 at its end`)
        if (crc32("}", crc32(raw.subarray(0, at))) !== Number(claim)) throw new Error("checkpoint.json fails its checksum: damaged")
      }
      const manifest = checkManifest(parsed, BigInt(NAME.exec(name)![1]!))
      // The size is checked before reading, so a huge file is never read; and again after (a file that changed).
      const sizeCheck = (bytes: number) => {
        if (bytes !== manifest.bytes) throw new Error(`tensors.bin has ${bytes} bytes, the manifest says ${manifest.bytes}: ${bytes < manifest.bytes ? "truncated" : "damaged"}`)
      }
      sizeCheck(await regularFileSize(join(path, "tensors.bin"), "tensors.bin"))
      const file = await readFile(join(path, "tensors.bin"))
      const data = new Uint8Array(file.buffer, file.byteOffset, file.length)
      sizeCheck(data.length)
      if (crc32(data) !== manifest.crc32) throw new Error("tensors.bin fails its checksum: damaged")
      const weights: Entries = new Map()
      const objective: Entries = new Map()
      const slots = new Map<string, Entries>()
      for (const e of manifest.tensors) {
        const count = e.shape.reduce((a, b) => a * b, 1)
        const copy = data.slice(e.offset, e.offset + 4 * count)
        const values = e.dtype === "int32" ? new Int32Array(copy.buffer) : new Float32Array(copy.buffer)
        const [kind, slot, ...rest] = e.name.split("/")
        if (kind === "model") weights.set([slot, ...rest].join("/"), { shape: e.shape, values })
        else if (kind === "objective") objective.set([slot, ...rest].join("/"), { shape: e.shape, values })
        else {
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
        objective,
        optimizerStep: manifest.optimizer.step
      } satisfies Checkpoint
    },
    catch: (error) => new CheckpointError({ path, reason: error instanceof Error ? error.message : String(error) })
  })

/**
 * The newest intact checkpoint in `dir`, or none when `dir` holds no checkpoint. A damaged checkpoint is
 * reported with `Effect.logWarning` and the next older one is tried; when every checkpoint is damaged
 * the result is a `CheckpointError` naming each one and what is wrong (a run must not silently start
 * over), as it is when `dir` cannot be listed.
 *
 * @category checkpoints
 * @since 0.1.0
 */
export const readLatestCheckpoint = (dir: string): Effect.Effect<Option.Option<Checkpoint>, CheckpointError> =>
  Effect.gen(function*() {
    const names = yield* Effect.tryPromise({
      try: () => readdir(dir).catch((error: NodeJS.ErrnoException) => (error.code === "ENOENT" ? [] : Promise.reject(error))),
      catch: (error) => new CheckpointError({ path: dir, reason: `cannot list the folder (${error instanceof Error ? error.message : String(error)})` })
    })
    const damaged: Array<string> = []
    for (const name of byStep(names).toReversed()) {
      const result = yield* Effect.result(readOne(join(dir, name), name))
      if (result._tag === "Success") return Option.some(result.success)
      yield* Effect.logWarning(`skipping damaged checkpoint: ${result.failure.message}`)
      damaged.push(`${name}: ${result.failure.reason}`)
    }
    if (damaged.length > 0) {
      return yield* new CheckpointError({ path: dir, reason: `no intact checkpoint to resume from (move the folder away to start over): ${damaged.join("; ")}` })
    }
    return Option.none()
  })

const dtypeOf = (values: Float32Array | Int32Array) => (values instanceof Int32Array ? "int32" : "float32")

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
    if (dtypeOf(saved.values) !== t.dtype) {
      throw new CheckpointError({ path: checkpoint.path, reason: `${name} is ${dtypeOf(saved.values)} in the checkpoint, ${t.dtype} in the model` })
    }
  }
  for (const [slot, entries] of checkpoint.slots) {
    for (const [name, saved] of entries) {
      const t = weights.get(name)
      if (t !== undefined && !(tf.util.arraysEqual(saved.shape as Array<number>, t.shape) && dtypeOf(saved.values) === t.dtype)) {
        throw new CheckpointError({ path: checkpoint.path, reason: `optimizer slot ${slot} of ${name} is ${dtypeOf(saved.values)} [${saved.shape}] in the checkpoint; the weight is ${t.dtype} [${t.shape}]` })
      }
    }
  }
  for (const [name, t] of weights) {
    const saved = checkpoint.weights.get(name)!
    const value = tf.tensor(saved.values, saved.shape as Array<number>, t.dtype)
    ;(t as tf.Variable).assign(value)
    value.dispose()
  }
  // Object.fromEntries makes every name an own property, "__proto__" included.
  const slots = Object.fromEntries(
    [...checkpoint.slots].map(([slot, entries]) => [slot, Object.fromEntries([...entries].filter(([n]) => weights.has(n)).map(([n, v]) => [n, tf.tensor(v.values, v.shape as Array<number>)]))])
  )
  return { step: checkpoint.optimizerStep, slots }
}
