/**
 * Parity with torchvision: tiny ResNets built from torchvision's own blocks (tools/fixtures/encoders.py)
 * with random weights and batch-norm statistics, saved as safetensors; our model with the same config
 * must give torchvision's eval-mode features to 1e-4 × max|ref| (the bound; float32 vs float64
 * reference). Plus the error paths: missing, unexpected, mis-shaped, unsupported dtypes, bad offsets,
 * truncated and malformed files (built byte by byte here from the fixture's tensors), and files that
 * try to smuggle code.
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

/** One tensor of a safetensors file: its header entry (offsets filled in by `build`) and raw bytes. */
interface Raw {
  readonly dtype: string
  readonly shape: ReadonlyArray<number>
  readonly data: Uint8Array
}

/** The fixture's tensors as stored, in header order (the test's own reading of the format). */
const rawTensors = (name: string): Array<[string, Raw]> => {
  const bytes = new Uint8Array(readFileSync(fixture(`${name}.safetensors`)))
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true))
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { dtype: string; shape: Array<number>; data_offsets: [number, number] }>
  return Object.entries(header)
    .filter(([k]) => k !== "__metadata__")
    .map(([k, e]) => [k, { dtype: e.dtype, shape: e.shape, data: bytes.slice(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]) }])
}

/**
 * safetensors bytes: u64 LE header length, JSON header, data with the tensors back to back in the given
 * order. `edit` may rewrite the header entries (offsets included) before they are written.
 */
const build = (
  tensors: ReadonlyArray<readonly [string, Raw]>,
  edit: (header: Record<string, Record<string, unknown>>) => void = () => undefined
): Uint8Array => {
  const header: Record<string, Record<string, unknown>> = {}
  let offset = 0
  for (const [name, t] of tensors) {
    // defineProperty: a tensor named "__proto__" must be an own key, as JSON.parse makes it.
    Object.defineProperty(header, name, {
      value: { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] },
      enumerable: true,
      writable: true,
      configurable: true
    })
    offset += t.data.byteLength
  }
  edit(header)
  const json = new TextEncoder().encode(JSON.stringify(header))
  const out = new Uint8Array(8 + json.byteLength + offset)
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true)
  out.set(json, 8)
  let at = 8 + json.byteLength
  for (const [, t] of tensors) {
    out.set(t.data, at)
    at += t.data.byteLength
  }
  return out
}

const f32 = (values: ReadonlyArray<number>, shape: ReadonlyArray<number> = [values.length]): Raw => ({
  dtype: "F32",
  shape,
  data: new Uint8Array(Float32Array.from(values).buffer)
})

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength)

/** A file that is only an 8-byte length and the given header bytes. */
const withHeader = (header: Uint8Array): Uint8Array => {
  const out = new Uint8Array(8 + header.byteLength)
  view(out).setBigUint64(0, BigInt(header.byteLength), true)
  out.set(header, 8)
  return out
}

/** A header edit setting the data_offsets of tensors a, b and c. */
const at = (a: unknown, b: unknown, c: unknown) => (h: Record<string, Record<string, unknown>>) => {
  h["a"]!["data_offsets"] = a
  h["b"]!["data_offsets"] = b
  h["c"]!["data_offsets"] = c
}

/** Every weight of the model, to check that a rejected file changed nothing. */
const snapshot = (m: tfl.LayersModel): Array<Array<number>> => m.weights.map((w) => Array.from(w.read().dataSync()))

const basicCifar = (): ResNetConfig & { blocksPerGroup: [number, number, number, number] } => {
  const c = load("basic-cifar")
  return { ...configFor(c), blocksPerGroup: c.layers as [number, number, number, number] }
}

/** Loads `bytes` into a fresh basic-cifar model; resolves to the error message, or "" when it loaded. */
const loadError = async (bytes: Uint8Array): Promise<string> => {
  const m = resnet(basicCifar())
  try {
    await loadTorchvisionWeights(m, bytes)
    return ""
  } catch (error) {
    expect(InvalidArgumentError.isInstance(error)).toBe(true)
    return (error as Error).message
  } finally {
    m.dispose()
  }
}

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

describe("loadTorchvisionWeights: files that do not match the model", () => {
  useLeakCheck()

  it("names missing tensors (a basic-block file in a bottleneck model: no unexpected ones) and changes nothing", async () => {
    // Every basic-block name also exists in a bottleneck model, so nothing is unexpected; the conv3 /
    // bn3 tensors and layer1's projection are missing, and the shared names have other shapes.
    await withModel({ depth: 50, baseWidth: 8 }, [1, 1, 1, 1], async (m) => {
      const before = snapshot(m)
      const error = await loadTorchvisionWeights(m, fixture("basic-imagenet.safetensors").pathname).then(
        () => "",
        (e: unknown) => (e as Error).message
      )
      expect(error).toMatch(/^weights: the file does not match model "resnet50" \(nothing was changed\): missing \d+: [^|]*layer1\.0\.conv3\.weight[^|]* \| wrong shape \d+: [^|]*$/)
      expect(error).not.toMatch(/unexpected/)
      expect(snapshot(m)).toEqual(before)
    })
  })

  it("names an unexpected tensor (extra.weight) with the count, and changes nothing", async () => {
    const tensors = [...rawTensors("basic-cifar"), ["extra.weight", f32([1, 2, 3])] as const]
    await withModel(basicCifar(), basicCifar().blocksPerGroup, async (m) => {
      const before = snapshot(m)
      await expect(loadTorchvisionWeights(m, build(tensors))).rejects.toThrow(
        /^weights: the file does not match model "resnet18" \(nothing was changed\): unexpected 1: extra\.weight$/
      )
      expect(snapshot(m)).toEqual(before)
    })
  })

  it("lists every unexpected tensor, twelve by name and the rest as …; `ignore` lets them through", async () => {
    const extras = Array.from({ length: 14 }, (_v, i) => [`extra${String(i).padStart(2, "0")}.weight`, f32([i])] as const)
    // fc.* (torchvision's classifier) is ignored by default, not unexpected.
    const tensors = [...rawTensors("basic-cifar"), ...extras, ["fc.weight", f32([0, 0], [1, 2])] as const]
    const names = extras.map(([n]) => n)
    expect(await loadError(build(tensors))).toBe(
      `weights: the file does not match model "resnet18" (nothing was changed): unexpected 14: ${names.slice(0, 12).join(", ")}, …`
    )
    await withModel(basicCifar(), basicCifar().blocksPerGroup, async (m) => {
      const report = await loadTorchvisionWeights(m, build(tensors), { ignore: (n) => n.startsWith("extra") || n.startsWith("fc.") || n.endsWith("num_batches_tracked") })
      expect(report.ignored).toEqual([...names, "fc.weight", ...rawTensors("basic-cifar").map(([n]) => n).filter((n) => n.endsWith("num_batches_tracked"))].toSorted())
      expect(report.loaded.length).toBe(rawTensors("basic-cifar").filter(([n]) => !n.endsWith("num_batches_tracked")).length)
    })
  })

  it("names missing, unexpected and mis-shaped tensors together", async () => {
    const tensors = rawTensors("basic-cifar")
      .filter(([n]) => n !== "layer4.1.bn2.running_var")
      .map(([n, t]) => (n === "bn1.bias" ? ([n, f32([1, 2, 3])] as const) : ([n, t] as const)))
    expect(await loadError(build([...tensors, ["extra.weight", f32([1])]]))).toBe(
      'weights: the file does not match model "resnet18" (nothing was changed): missing 1: layer4.1.bn2.running_var | unexpected 1: extra.weight | wrong shape 1: bn1.bias: file [3] → [3], model expects [4]'
    )
  })

  it("names mis-shaped tensors", async () => {
    await withModel({ depth: 18, baseWidth: 16, stem: "cifar" }, [2, 2, 2, 2], async (m) => {
      await expect(loadTorchvisionWeights(m, fixture("basic-cifar.safetensors").pathname)).rejects.toThrow(
        /wrong shape \d+: conv1\.weight: file \[4, 3, 3, 3\] → \[3, 3, 3, 4\], model expects \[3, 3, 3, 16\]/
      )
    })
  })
})

describe("loadTorchvisionWeights: malformed files", () => {
  useLeakCheck()

  it("control: the fixture's tensors written by this test's own writer load", async () => {
    expect(await loadError(build(rawTensors("basic-cifar")))).toBe("")
  })

  it("rejects truncated files and header lengths past the end", async () => {
    await withModel({ depth: 18, baseWidth: 4, stem: "cifar" }, [2, 2, 2, 2], async (m) => {
      await expect(loadTorchvisionWeights(m, fixture("truncated.safetensors").pathname)).rejects.toThrow(InvalidArgumentError)
      await expect(loadTorchvisionWeights(m, fixture("truncated.safetensors").pathname)).rejects.toThrow(/truncated: tensor ".*" ends at byte \d+ of the data, which has only \d+/)
      await expect(loadTorchvisionWeights(m, fixture("bad-header.safetensors").pathname)).rejects.toThrow(/truncated or not a safetensors file: the header claims \d+ bytes but only \d+ follow/)
      await expect(loadTorchvisionWeights(m, "/no/such/file.safetensors")).rejects.toThrow(/^pathOrBytes: cannot read \/no\/such\/file\.safetensors/)
    })
    const good = build(rawTensors("basic-cifar"))
    // The header length one byte past the end, and the largest u64.
    for (const claim of [BigInt(good.byteLength - 7), 2n ** 64n - 1n]) {
      const bad = good.slice()
      view(bad).setBigUint64(0, claim, true)
      expect(await loadError(bad)).toBe(`weights: the weights bytes: truncated or not a safetensors file: the header claims ${claim} bytes but only ${good.byteLength - 8} follow`)
    }
    // Cut inside the data: the last tensor runs past the end.
    expect(await loadError(good.subarray(0, good.byteLength - 1))).toMatch(/^weights: the weights bytes: truncated: tensor "[^"]+" ends at byte \d+ of the data, which has only \d+$/)
    expect(await loadError(new Uint8Array([1, 2, 3]))).toBe("weights: the weights bytes: not a safetensors file: 3 bytes, too short for the 8-byte header length")
  })

  it("rejects a header that is not a UTF-8 JSON object", async () => {
    expect(await loadError(withHeader(new TextEncoder().encode("{nope!!}")))).toMatch(/^weights: the weights bytes: malformed header \(not UTF-8 JSON\): /)
    expect(await loadError(withHeader(new Uint8Array([0x7b, 0xff, 0x7d])))).toMatch(/malformed header \(not UTF-8 JSON\)/)
    expect(await loadError(withHeader(new TextEncoder().encode("[1, 2]")))).toBe("weights: the weights bytes: malformed header: not a JSON object")
    expect(await loadError(withHeader(new TextEncoder().encode('{"a": 5}')))).toBe('weights: the weights bytes: tensor "a": malformed entry 5')
  })

  it("names a tensor of an unsupported dtype", async () => {
    const tensors = rawTensors("basic-cifar")
    for (const dtype of ["C64", "F8_E4M3", "U32", "toString", 7]) {
      expect(await loadError(build(tensors, (h) => void (h["conv1.weight"]!["dtype"] = dtype)))).toBe(
        `weights: the weights bytes: tensor "conv1.weight": unsupported dtype ${JSON.stringify(dtype)} (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)`
      )
    }
  })

  it("rejects malformed, mis-sized, overlapping, gapped and out-of-range data_offsets", async () => {
    // Three tensors of 4, 4 and 8 bytes, 16 bytes of data: a [0, 4], b [4, 8], c [8, 16].
    const tensors = [["a", f32([1])], ["b", f32([2])], ["c", f32([3, 4])]] as const
    const error = (edit: (h: Record<string, Record<string, unknown>>) => void) => loadError(build(tensors, edit))
    const prefix = "weights: the weights bytes: "
    const parsed = /^weights: the file does not match model "resnet18" \(nothing was changed\): missing \d+: .* \| unexpected 3: a, b, c$/
    // Controls: the file as written, and the same tensors stored in another order, parse (the model
    // then finds none of its weights).
    expect(await error(() => undefined)).toMatch(parsed)
    expect(await error(at([4, 8], [0, 4], [8, 16]))).toMatch(parsed)
    // Overlaps: b starts inside a; b aliases a's bytes.
    expect(await error(at([0, 4], [2, 6], [8, 16]))).toBe(`${prefix}tensor "b" (data_offsets [2, 6]) overlaps tensor "a" (data_offsets [0, 4])`)
    expect(await error(at([0, 4], [0, 4], [8, 16]))).toBe(`${prefix}tensor "b" (data_offsets [0, 4]) overlaps tensor "a" (data_offsets [0, 4])`)
    // A hole: b's bytes stay in the file but b is dropped from the header.
    expect(await error((h) => void delete h["b"])).toBe(`${prefix}data bytes [4, 8) belong to no tensor (before tensor "c")`)
    // Trailing bytes after the last tensor.
    const file = build(tensors)
    const longer = new Uint8Array(file.byteLength + 3)
    longer.set(file)
    expect(await loadError(longer)).toBe(`${prefix}data bytes [16, 19) after the last tensor belong to no tensor`)
    // Out of range.
    expect(await error(at([0, 4], [4, 8], [16, 24]))).toBe(`${prefix}truncated: tensor "c" ends at byte 24 of the data, which has only 16`)
    // Not the tensor's size, or reversed.
    expect(await error(at([0, 4], [4, 8], [8, 2 ** 40]))).toBe(`${prefix}tensor "c": data_offsets [8, ${2 ** 40}] do not hold 2 × 4 bytes`)
    expect(await error(at([0, 4], [8, 4], [8, 16]))).toBe(`${prefix}tensor "b": data_offsets [8, 4] do not hold 1 × 4 bytes`)
    expect(await error(at([0, 4], [4, 9], [8, 16]))).toBe(`${prefix}tensor "b": data_offsets [4, 9] do not hold 1 × 4 bytes`)
    // Malformed: negative, fractional, beyond 2^53, the wrong arity, not an array.
    for (const bad of [[-4, 0], [0.5, 4.5], [0, 2 ** 60], [0], [0, 4, 8], "0,4", null]) {
      expect(await error((h) => void (h["a"]!["data_offsets"] = bad))).toBe(`${prefix}tensor "a": malformed data_offsets ${JSON.stringify(bad)}`)
    }
    expect(await error((h) => void (h["a"]!["shape"] = [-1]))).toBe(`${prefix}tensor "a": malformed shape [-1]`)
  })
})

describe("loadTorchvisionWeights: nothing in a file executes", () => {
  useLeakCheck()

  it("reads the header with JSON.parse only: prototype-like names are plain names, strings stay strings", async () => {
    const marker = "__simclrPwned"
    const code = `globalThis.${marker} = true`
    const tensors = [...rawTensors("basic-cifar"), ["__proto__", f32([1])] as const, ["constructor", f32([2])] as const]
    const bytes = build(tensors, (h) => {
      h["__metadata__"] = { format: "pt", toString: code, valueOf: code, toJSON: code }
    })
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))))
    expect(text).toContain('"__proto__"')
    expect(await loadError(bytes)).toBe('weights: the file does not match model "resnet18" (nothing was changed): unexpected 2: __proto__, constructor')
    expect((globalThis as Record<string, unknown>)[marker]).toBeUndefined()
    expect(({} as Record<string, unknown>)["dtype"]).toBeUndefined()
    expect(Object.getPrototypeOf({})).toBe(Object.prototype)
  })

  it("rejects a pickled PyTorch checkpoint (torch.save's zip) as not safetensors, without reading it", async () => {
    // torch.save writes a zip archive: "PK\x03\x04" first, so the u64 header length is absurd.
    const zip = new Uint8Array(64)
    zip.set([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00])
    const claim = new DataView(zip.buffer).getBigUint64(0, true)
    expect(await loadError(zip)).toBe(`weights: the weights bytes: truncated or not a safetensors file: the header claims ${claim} bytes but only 56 follow`)
    // A legacy (non-zip) pickle starts with the PROTO opcode 0x80.
    const pickle = new Uint8Array([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8])
    expect(await loadError(pickle)).toMatch(/^weights: the weights bytes: truncated or not a safetensors file/)
  })
})
