/**
 * The kernels this backend runs natively. Each one reads the cpu backend's typed arrays directly,
 * writes into a fresh array that becomes the output tensor's storage (no copies), and hands every case
 * it does not cover (other dtypes, NCHW, exotic activations) back to the cpu backend's own kernel.
 */
import { backend_util, type KernelConfig, type KernelFunc, slice_util, type TensorInfo, util } from "@tensorflow/tfjs-core"
import type { Addon } from "./addon.ts"

type Values = Float32Array | Int32Array | Uint8Array | ReadonlyArray<unknown>
/** The part of tfjs-backend-cpu's MathBackendCPU the kernels use. */
interface CpuBackend {
  readonly data: { get(dataId: object): { values?: Values } }
  makeTensorInfo(shape: ReadonlyArray<number>, dtype: "float32" | "int32" | "bool", values: Float32Array | Int32Array | Uint8Array): TensorInfo
}
type Args = Parameters<KernelFunc>[0]
const be = (args: Args) => args.backend as unknown as CpuBackend

const valuesOf = (backend: CpuBackend, t: TensorInfo): Values | undefined => backend.data.get(t.dataId).values
const f32 = (backend: CpuBackend, t: TensorInfo): Float32Array | undefined => {
  const v = t.dtype === "float32" ? valuesOf(backend, t) : undefined
  if (v instanceof Float32Array) return v
  // tfjs-cpu casts int32 to float32 by sharing the Int32Array (tf.norm's exponent 2, for one).
  return v instanceof Int32Array || v instanceof Uint8Array ? Float32Array.from(v) : undefined
}
/** float32 or int32 storage (4-byte elements, which the strided copy moves bit for bit). */
const words = (backend: CpuBackend, t: TensorInfo): Float32Array | Int32Array | undefined => {
  const v = valuesOf(backend, t)
  return (t.dtype === "float32" && v instanceof Float32Array) || (t.dtype === "int32" && v instanceof Int32Array) ? v : undefined
}
/**
 * Output storage the kernel overwrites completely. Large arrays come from `Buffer.allocUnsafe` (a
 * dedicated, not zero-filled ArrayBuffer): zero-filling every output was a whole extra pass over memory.
 */
const uninitialized = (size: number): ArrayBuffer | undefined => {
  if (size * 4 < 65536) return undefined
  const b = Buffer.allocUnsafe(size * 4)
  return b.byteOffset === 0 && b.buffer.byteLength === size * 4 ? (b.buffer as ArrayBuffer) : undefined
}
const alloc = (dtype: "float32" | "int32", size: number): Float32Array | Int32Array => {
  const b = uninitialized(size)
  if (dtype === "float32") return b === undefined ? new Float32Array(size) : new Float32Array(b)
  return b === undefined ? new Int32Array(size) : new Int32Array(b)
}
const floats = (size: number): Float32Array => alloc("float32", size) as Float32Array
const stridesOf = (shape: ReadonlyArray<number>): Array<number> => {
  const s = Array.from(shape, () => 0)
  let acc = 1
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc
    acc *= shape[i]!
  }
  return s
}

type Native = (args: Args) => TensorInfo | Array<TensorInfo> | undefined

/** A kernel that runs `native` and falls back to the cpu backend's kernel when it returns undefined. */
const kernel = (name: string, backendName: string, fallback: KernelFunc, native: Native): KernelConfig => ({
  kernelName: name,
  backendName,
  kernelFunc: (args) => native(args) ?? fallback(args)
})

interface ConvAttrs {
  readonly strides: [number, number] | number
  readonly pad: "valid" | "same" | number | backend_util.ExplicitPadding
  readonly dataFormat: "NHWC" | "NCHW"
  readonly dilations?: [number, number] | number
  readonly dimRoundingMode?: "floor" | "round" | "ceil"
}

const convInfo = (xShape: ReadonlyArray<number>, filterShape: ReadonlyArray<number>, a: ConvAttrs): backend_util.Conv2DInfo | undefined => {
  if (a.dataFormat !== undefined && a.dataFormat !== "NHWC") return undefined
  const info = backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    a.dilations ?? 1,
    a.pad,
    a.dimRoundingMode,
    false,
    "channelsLast"
  )
  const p = info.padInfo
  return p.top < 0 || p.left < 0 || p.bottom < 0 || p.right < 0 || util.sizeFromShape(info.outShape) === 0 ? undefined : info
}
const geometry = (info: backend_util.Conv2DInfo) => {
  const p = info.padInfo
  // oneDNN's right/bottom padding: what the last window needs beyond the input (never negative; rows
  // no window reaches are left out by the integer division (in + pads − kernel) / stride + 1 = out).
  const bottom = Math.max(0, (info.outHeight - 1) * info.strideHeight + info.effectiveFilterHeight - info.inHeight - p.top)
  const right = Math.max(0, (info.outWidth - 1) * info.strideWidth + info.effectiveFilterWidth - info.inWidth - p.left)
  return {
    strides: [info.strideHeight, info.strideWidth],
    dilations: [info.dilationHeight, info.dilationWidth],
    pads: [p.top, p.left, bottom, right]
  }
}

/**
 * Kernels for batch norm in training (moments, normalisation and the gradient, fused), which
 * `@simclr/encoders`' BatchNormalization layer uses where the backend has them. Inputs x, scale,
 * offset, attr epsilon; outputs y, mean, biased variance. The gradient kernel: inputs dy, x, scale,
 * mean, variance; outputs dx, dscale, doffset.
 */
export const BATCH_NORM_TRAINING = "SimclrBatchNormTraining"
export const BATCH_NORM_TRAINING_GRAD = "SimclrBatchNormTrainingGrad"

const BINARY: Record<string, number> = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Maximum: 4, Minimum: 5, SquaredDifference: 6, Pow: 7 }
const COMPARE: Record<string, number> = { Greater: 8, GreaterEqual: 9, Less: 10, LessEqual: 11, Equal: 12, NotEqual: 13 }
const UNARY: Record<string, number> = { Relu: 0, Step: 1, Sqrt: 2, Rsqrt: 3, Exp: 4, Log: 5, Neg: 6, Abs: 7, Square: 8, Reciprocal: 9, Sigmoid: 10, Tanh: 11, Relu6: 12, Elu: 13 }
const UNARY_CLIP = 14
const REDUCE: Record<string, number> = { Sum: 0, Mean: 1, Max: 2, Min: 3 }

/**
 * Whether a fused kernel (FusedConv2D, _FusedMatMul) applies ReLU after its bias, or undefined when its
 * activation (prelu, leaky relu, elu, …) is left to the cpu kernel.
 */
const fusedRelu = (args: Args): boolean | undefined => {
  const activation = (args.attrs as { activation?: string }).activation ?? "linear"
  if ((args.inputs as { preluActivationWeights?: TensorInfo }).preluActivationWeights !== undefined) return undefined
  return activation === "relu" ? true : activation === "linear" ? false : undefined
}

/**
 * A convolution gradient: the forward geometry from the input and filter shapes, the two float32
 * operands, and `run` writing the output of `outShape`.
 */
const convGradient = (
  args: Args,
  operands: readonly [TensorInfo, TensorInfo],
  xShape: ReadonlyArray<number>,
  filterShape: ReadonlyArray<number>,
  outShape: ReadonlyArray<number>,
  run: (p: Float32Array, q: Float32Array, out: Float32Array, g: ReturnType<typeof geometry>) => void
): TensorInfo | undefined => {
  const b = be(args)
  const p = f32(b, operands[0]), q = f32(b, operands[1])
  const info = convInfo(xShape, filterShape, args.attrs as unknown as ConvAttrs)
  if (p === undefined || q === undefined || info === undefined || p.length === 0 || q.length === 0) return undefined
  const out = floats(util.sizeFromShape(outShape as Array<number>))
  run(p, q, out, geometry(info))
  return b.makeTensorInfo(outShape, "float32", out)
}
/**
 * The native kernel configs for a backend named `backendName`, each falling back to `cpuKernel(name)`.
 * @internal
 */
export const nativeKernels = (addon: Addon, backendName: string, cpuKernel: (name: string) => KernelFunc): Array<KernelConfig> => {
  const configs: Array<KernelConfig> = []
  const add = (name: string, native: Native) => configs.push(kernel(name, backendName, cpuKernel(name), native))

  // ---- convolutions ----
  const conv = (args: Args, bias: TensorInfo | undefined, relu: boolean): TensorInfo | undefined => {
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo }
    const b = be(args)
    const xv = f32(b, x), wv = f32(b, filter)
    const bv = bias === undefined ? null : f32(b, bias)
    if (xv === undefined || wv === undefined || bv === undefined || xv.length === 0 || wv.length === 0 || (bias !== undefined && util.sizeFromShape(bias.shape) !== filter.shape[3])) return undefined
    const info = convInfo(x.shape, filter.shape, args.attrs as unknown as ConvAttrs)
    if (info === undefined) return undefined
    const g = geometry(info)
    const out = floats(util.sizeFromShape(info.outShape))
    addon.conv2d(xv, x.shape, wv, filter.shape, out, info.outShape, g.strides, g.dilations, g.pads, bv, relu)
    return b.makeTensorInfo(info.outShape, "float32", out)
  }
  add("Conv2D", (args) => conv(args, undefined, false))
  add("FusedConv2D", (args) => {
    const relu = fusedRelu(args)
    return relu === undefined ? undefined : conv(args, (args.inputs as { bias?: TensorInfo }).bias, relu)
  })
  add("Conv2DBackpropInput", (args) => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo }
    const { inputShape } = args.attrs as { inputShape: [number, number, number, number] }
    return convGradient(args, [dy, filter], inputShape, filter.shape, inputShape, (dyv, wv, out, g) =>
      addon.conv2dBackwardData(dyv, dy.shape, wv, filter.shape, out, inputShape, g.strides, g.dilations, g.pads))
  })
  add("Conv2DBackpropFilter", (args) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo }
    const { filterShape } = args.attrs as { filterShape: [number, number, number, number] }
    return convGradient(args, [x, dy], x.shape, filterShape, filterShape, (xv, dyv, out, g) =>
      addon.conv2dBackwardFilter(xv, x.shape, dyv, dy.shape, out, filterShape, g.strides, g.dilations, g.pads))
  })

  // ---- matmul ----
  const matmul = (args: Args, bias: TensorInfo | undefined, relu: boolean): TensorInfo | undefined => {
    const { a, b: bt } = args.inputs as { a: TensorInfo; b: TensorInfo }
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean }
    const b = be(args)
    const av = f32(b, a), bv = f32(b, bt)
    const biasv = bias === undefined ? null : f32(b, bias)
    if (av === undefined || bv === undefined || biasv === undefined || a.shape.length < 2 || bt.shape.length < 2) return undefined
    const ra = a.shape.length, rb = bt.shape.length
    const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!
    const k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!
    const k2 = transposeB ? bt.shape[rb - 1]! : bt.shape[rb - 2]!
    const n = transposeB ? bt.shape[rb - 2]! : bt.shape[rb - 1]!
    if (k !== k2 || m * n * k === 0) return undefined
    if (bias !== undefined && util.sizeFromShape(bias.shape) !== n) return undefined
    const batchA = a.shape.slice(0, -2), batchB = bt.shape.slice(0, -2)
    const sizeA = util.sizeFromShape(batchA), sizeB = util.sizeFromShape(batchB)
    // One batch broadcast against the other (or equal batches); other broadcasts go to the cpu kernel.
    if ((sizeA !== sizeB && sizeA !== 1 && sizeB !== 1) || sizeA * sizeB === 0) return undefined
    const batchShape = backend_util.assertAndGetBroadcastShape(batchA, batchB)
    if (util.sizeFromShape(batchShape) !== Math.max(sizeA, sizeB)) return undefined
    const outShape = [...batchShape, m, n]
    const out = floats(util.sizeFromShape(outShape))
    addon.matmul(av, [sizeA, m, k], bv, [sizeB, k, n], transposeA, transposeB, out, biasv, relu)
    return b.makeTensorInfo(outShape, "float32", out)
  }
  add("BatchMatMul", (args) => matmul(args, undefined, false))
  add("_FusedMatMul", (args) => {
    const relu = fusedRelu(args)
    return relu === undefined ? undefined : matmul(args, (args.inputs as { bias?: TensorInfo }).bias, relu)
  })

  // ---- pooling ----
  interface PoolAttrs {
    filterSize: [number, number] | number
    strides: [number, number] | number
    pad: "valid" | "same" | number | backend_util.ExplicitPadding
    dimRoundingMode?: "floor" | "round" | "ceil"
  }
  const poolInfo = (xShape: ReadonlyArray<number>, a: PoolAttrs) => {
    const info = backend_util.computePool2DInfo(xShape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode)
    if (info.dilationHeight !== 1 || info.dilationWidth !== 1 || util.sizeFromShape(info.outShape) === 0) return undefined
    const g = geometry(info)
    const p = info.padInfo
    if (p.top < 0 || p.left < 0 || g.pads[2]! < 0 || g.pads[3]! < 0) return undefined
    return { info, kernel: [info.filterHeight, info.filterWidth], ...g }
  }
  for (const [name, isMax] of [["MaxPool", true], ["AvgPool", false]] as const) {
    add(name, (args) => {
      const { x } = args.inputs as { x: TensorInfo }
      const b = be(args)
      const xv = f32(b, x)
      const p = x.shape.length === 4 ? poolInfo(x.shape, args.attrs as unknown as PoolAttrs) : undefined
      if (xv === undefined || p === undefined) return undefined
      const out = floats(util.sizeFromShape(p.info.outShape))
      addon.pool2d(isMax, xv, x.shape, out, p.info.outShape, p.kernel, p.strides, p.pads)
      return b.makeTensorInfo(p.info.outShape, "float32", out)
    })
  }
  for (const [name, isMax] of [["MaxPoolGrad", true], ["AvgPoolGrad", false]] as const) {
    add(name, (args) => {
      const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo }
      const b = be(args)
      const dyv = f32(b, dy), xv = f32(b, input)
      const p = poolInfo(input.shape, args.attrs as unknown as PoolAttrs)
      if (dyv === undefined || xv === undefined || p === undefined) return undefined
      const out = floats(util.sizeFromShape(input.shape))
      addon.pool2dBackward(isMax, dyv, dy.shape, xv, input.shape, out, p.kernel, p.strides, p.pads)
      return b.makeTensorInfo(input.shape, "float32", out)
    })
  }

  // ---- element-wise ----
  for (const [name, op] of [...Object.entries(BINARY), ...Object.entries(COMPARE)]) {
    add(name, (args) => {
      const { a, b: bt } = args.inputs as { a: TensorInfo; b: TensorInfo }
      const b = be(args)
      const av = f32(b, a), bv = f32(b, bt)
      if (av === undefined || bv === undefined) return undefined
      const outShape = backend_util.assertAndGetBroadcastShape(a.shape, bt.shape)
      const size = util.sizeFromShape(outShape)
      if (size === 0) return undefined
      const rank = outShape.length
      const pad = (s: ReadonlyArray<number>) => [...Array.from({ length: rank - s.length }, () => 1), ...s]
      const compare = op >= 8
      const out = compare ? new Uint8Array(size) : floats(size)
      addon.binary(op, av, pad(a.shape), bv, pad(bt.shape), out, outShape)
      return b.makeTensorInfo(outShape, compare ? "bool" : "float32", out)
    })
  }
  for (const [name, op] of Object.entries(UNARY)) {
    add(name, (args) => {
      const { x } = args.inputs as { x: TensorInfo }
      const b = be(args)
      const xv = f32(b, x)
      if (xv === undefined) return undefined
      const out = floats(xv.length)
      addon.unary(op, xv, out, (args.attrs as { alpha?: number } | undefined)?.alpha ?? 0, 0)
      return b.makeTensorInfo(x.shape, "float32", out)
    })
  }
  add("ClipByValue", (args) => {
    const { x } = args.inputs as { x: TensorInfo }
    const { clipValueMin, clipValueMax } = args.attrs as { clipValueMin: number; clipValueMax: number }
    const b = be(args)
    const xv = f32(b, x)
    if (xv === undefined) return undefined
    const out = floats(xv.length)
    addon.unary(UNARY_CLIP, xv, out, clipValueMin, clipValueMax)
    return b.makeTensorInfo(x.shape, "float32", out)
  })
  add("Select", (args) => {
    const { condition, t, e } = args.inputs as { condition: TensorInfo; t: TensorInfo; e: TensorInfo }
    const b = be(args)
    const cv = valuesOf(b, condition), tv = words(b, t), ev = t.dtype === e.dtype ? words(b, e) : undefined
    if (!(cv instanceof Uint8Array) || condition.dtype !== "bool" || tv === undefined || ev === undefined || tv.length === 0) return undefined
    // tf.where broadcasts the condition to the operands' shape before the kernel.
    if (!util.arraysEqual(condition.shape, t.shape) || !util.arraysEqual(e.shape, t.shape)) return undefined
    const out = alloc(t.dtype as "float32" | "int32", tv.length)
    addon.select(cv, tv, ev, out)
    return b.makeTensorInfo(t.shape, t.dtype as "float32" | "int32", out)
  })
  add("GatherV2", (args) => {
    const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo }
    const { axis, batchDims } = args.attrs as { axis: number; batchDims?: number }
    const b = be(args)
    const xv = words(b, x), iv = valuesOf(b, indices)
    if (xv === undefined || !(iv instanceof Int32Array) || indices.dtype !== "int32" || (batchDims ?? 0) !== 0) return undefined
    const ax = util.parseAxisParam(axis, x.shape)[0]!
    const outShape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)]
    const out = alloc(x.dtype as "float32" | "int32", util.sizeFromShape(outShape))
    if (out.length === 0) return undefined
    addon.gather(xv, [util.sizeFromShape(x.shape.slice(0, ax)), x.shape[ax]!, util.sizeFromShape(x.shape.slice(ax + 1))], iv, out)
    return b.makeTensorInfo(outShape, x.dtype as "float32" | "int32", out)
  })
  add("AddN", (args) => {
    const tensors = args.inputs as unknown as Array<TensorInfo>
    const b = be(args)
    const vals = tensors.map((t) => f32(b, t))
    const first = tensors[0]
    if (first === undefined || vals.some((v) => v === undefined) || tensors.some((t) => !util.arraysEqual(t.shape, first.shape))) return undefined
    const out = Float32Array.from(vals[0]!)
    for (let i = 1; i < vals.length; i++) addon.binary(0, out, first.shape, vals[i]!, first.shape, out, first.shape)
    return b.makeTensorInfo(first.shape, "float32", out)
  })
  add("FusedBatchNorm", (args) => {
    const { x, mean, variance, offset, scale } = args.inputs as Record<string, TensorInfo | undefined>
    const b = be(args)
    if (x === undefined || mean === undefined || variance === undefined) return undefined
    const channels = x.shape[x.shape.length - 1] ?? 1
    const params = [mean, variance, offset, scale].map((t) => (t === undefined ? null : f32(b, t)))
    const xv = f32(b, x)
    if (xv === undefined || xv.length === 0 || params.some((p) => p === undefined || (p !== null && p.length !== 1 && p.length !== channels))) return undefined
    const out = floats(xv.length)
    const [m, v, o, s] = params as Array<Float32Array | null>
    addon.batchNorm(xv, out, channels, m!, v!, o ?? null, s ?? null, (args.attrs as { varianceEpsilon: number }).varianceEpsilon)
    return b.makeTensorInfo(x.shape, "float32", out)
  })

  // ---- batch norm in training, fused (for @simclr/encoders' BatchNormalization layer) ----
  configs.push({
    kernelName: BATCH_NORM_TRAINING,
    backendName,
    kernelFunc: (args) => {
      const { x, scale, offset } = args.inputs as { x: TensorInfo; scale: TensorInfo; offset: TensorInfo }
      const b = be(args)
      const c = x.shape[x.shape.length - 1]!
      const xv = f32(b, x), sv = f32(b, scale), ov = f32(b, offset)
      if (xv === undefined || sv === undefined || ov === undefined || sv.length !== c || ov.length !== c || xv.length === 0) {
        throw new Error(`${BATCH_NORM_TRAINING}: expected float32 x [..., C] with scale and offset of C values; got x [${x.shape}] ${x.dtype}, scale [${scale.shape}], offset [${offset.shape}]`)
      }
      const y = floats(xv.length), mean = new Float32Array(c), variance = new Float32Array(c)
      addon.bnTrain(xv, c, sv, ov, (args.attrs as { epsilon: number }).epsilon, y, mean, variance)
      return [b.makeTensorInfo(x.shape, "float32", y), b.makeTensorInfo([c], "float32", mean), b.makeTensorInfo([c], "float32", variance)]
    }
  })
  configs.push({
    kernelName: BATCH_NORM_TRAINING_GRAD,
    backendName,
    kernelFunc: (args) => {
      const { dy, x, scale, mean, variance } = args.inputs as Record<"dy" | "x" | "scale" | "mean" | "variance", TensorInfo>
      const b = be(args)
      const c = x.shape[x.shape.length - 1]!
      const [dyv, xv, sv, mv, vv] = [dy, x, scale, mean, variance].map((t) => f32(b, t))
      if (dyv === undefined || xv === undefined || sv === undefined || mv === undefined || vv === undefined || dyv.length !== xv.length) {
        throw new Error(`${BATCH_NORM_TRAINING_GRAD}: expected float32 dy and x of one shape with C-value scale, mean and variance; got dy [${dy.shape}], x [${x.shape}]`)
      }
      const dx = floats(xv.length), dscale = new Float32Array(c), doffset = new Float32Array(c)
      addon.bnTrainGrad(dyv, xv, c, sv, mv, vv, (args.attrs as { epsilon: number }).epsilon, dx, dscale, doffset)
      return [b.makeTensorInfo(x.shape, "float32", dx), b.makeTensorInfo([c], "float32", dscale), b.makeTensorInfo([c], "float32", doffset)]
    }
  })

  // ---- reductions ----
  for (const [name, op] of Object.entries(REDUCE)) {
    add(name, (args) => {
      const { x } = args.inputs as { x: TensorInfo }
      // Sum and Mean name the axes `axis`, Max and Min `reductionIndices`.
      const a = args.attrs as { axis?: number | Array<number>; reductionIndices?: number | Array<number>; keepDims: boolean }
      const axis = a.axis ?? a.reductionIndices ?? null
      const keepDims = a.keepDims
      const b = be(args)
      const xv = f32(b, x)
      if (xv === undefined || xv.length === 0) return undefined
      const axes = util.parseAxisParam(axis as never, x.shape).toSorted((p, q) => p - q)
      if (axes.length === 0) return undefined
      const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i))
      const outShape = keepDims ? x.shape.map((s, i) => (axes.includes(i) ? 1 : s)) : kept.map((i) => x.shape[i]!)
      const reduced = util.sizeFromShape(axes.map((i) => x.shape[i]!))
      const out = floats(util.sizeFromShape(outShape))
      const contiguous = axes.length - 1 === axes[axes.length - 1]! - axes[0]!
      if (contiguous) {
        const outer = util.sizeFromShape(x.shape.slice(0, axes[0]))
        addon.reduce(op, xv, [outer, reduced, xv.length / (outer * reduced)], out)
      } else {
        // Reduced axes moved last by a native transpose, then reduced as rows.
        const perm = [...kept, ...axes]
        const xs = stridesOf(x.shape)
        const moved = floats(xv.length)
        addon.copy(xv, 0, perm.map((i) => xs[i]!), moved, 0, stridesOf(perm.map((i) => x.shape[i]!)), perm.map((i) => x.shape[i]!))
        addon.reduce(op, moved, [xv.length / reduced, reduced, 1], out)
      }
      return b.makeTensorInfo(outShape, "float32", out)
    })
  }

  // ---- data movement: one strided copy each ----
  add("Slice", (args) => {
    const { x } = args.inputs as { x: TensorInfo }
    const a = args.attrs as { begin: number | Array<number>; size: number | Array<number> }
    const b = be(args)
    const xv = words(b, x)
    if (xv === undefined) return undefined
    const [begin, size] = slice_util.parseSliceParams(x as never, a.begin, a.size) as [Array<number>, Array<number>]
    const xs = stridesOf(x.shape)
    const out = alloc(x.dtype as "float32" | "int32", util.sizeFromShape(size))
    addon.copy(xv, begin.reduce((acc, v, i) => acc + v * xs[i]!, 0), xs, out, 0, stridesOf(size), size)
    return b.makeTensorInfo(size, x.dtype as "float32" | "int32", out)
  })
  // tfjs-cpu's SplitV slices each piece element by element through a TensorBuffer (~0.26 s for the
  // [256, 4352] NT-Xent gradient of a 4,096-key queue); here each piece is one strided copy.
  add("SplitV", (args) => {
    const { x } = args.inputs as { x: TensorInfo }
    const a = args.attrs as { numOrSizeSplits: number | Array<number>; axis: number }
    const b = be(args)
    const xv = words(b, x)
    if (xv === undefined) return undefined
    const axis = util.parseAxisParam(a.axis, x.shape)[0]!
    const sizes = backend_util.prepareSplitSize(x as never, a.numOrSizeSplits, axis)
    const xs = stridesOf(x.shape)
    let offset = 0
    return sizes.map((s) => {
      const size = x.shape.map((d, i) => (i === axis ? s : d))
      const out = alloc(x.dtype as "float32" | "int32", util.sizeFromShape(size))
      if (out.length > 0) addon.copy(xv, offset * xs[axis]!, xs, out, 0, stridesOf(size), size)
      offset += s
      return b.makeTensorInfo(size, x.dtype as "float32" | "int32", out)
    })
  })
  add("Transpose", (args) => {
    const { x } = args.inputs as { x: TensorInfo }
    const { perm } = args.attrs as { perm: Array<number> }
    const b = be(args)
    const xv = words(b, x)
    if (xv === undefined) return undefined
    const xs = stridesOf(x.shape)
    const shape = perm.map((p) => x.shape[p]!)
    const out = alloc(x.dtype as "float32" | "int32", xv.length)
    addon.copy(xv, 0, perm.map((p) => xs[p]!), out, 0, stridesOf(shape), shape)
    return b.makeTensorInfo(shape, x.dtype as "float32" | "int32", out)
  })
  add("Tile", (args) => {
    const { x } = args.inputs as { x: TensorInfo }
    const { reps } = args.attrs as { reps: Array<number> }
    const b = be(args)
    const xv = words(b, x)
    if (xv === undefined || reps.length !== x.shape.length) return undefined
    const outShape = x.shape.map((s, i) => s * reps[i]!)
    const os = stridesOf(outShape), xs = stridesOf(x.shape)
    // Over [r0, s0, r1, s1, …]: the source repeats (stride 0) along each rᵢ.
    const shape = x.shape.flatMap((s, i) => [reps[i]!, s])
    const src = x.shape.flatMap((_, i) => [0, xs[i]!])
    const dst = x.shape.flatMap((s, i) => [s * os[i]!, os[i]!])
    const out = alloc(x.dtype as "float32" | "int32", util.sizeFromShape(outShape))
    addon.copy(xv, 0, src, out, 0, dst, shape)
    return b.makeTensorInfo(outShape, x.dtype as "float32" | "int32", out)
  })
  add("Reverse", (args) => {
    const { x } = args.inputs as { x: TensorInfo }
    const { dims } = args.attrs as { dims: number | Array<number> }
    const b = be(args)
    const xv = words(b, x)
    if (xv === undefined) return undefined
    const axes = util.parseAxisParam(dims, x.shape)
    const xs = stridesOf(x.shape)
    let offset = 0
    const src = xs.map((s, i) => {
      if (!axes.includes(i)) return s
      offset += (x.shape[i]! - 1) * s
      return -s
    })
    const out = alloc(x.dtype as "float32" | "int32", xv.length)
    addon.copy(xv, offset, src, out, 0, xs, x.shape)
    return b.makeTensorInfo(x.shape, x.dtype as "float32" | "int32", out)
  })
  add("PadV2", (args) => {
    const { x } = args.inputs as { x: TensorInfo }
    const { paddings, constantValue } = args.attrs as { paddings: Array<[number, number]>; constantValue: number }
    const b = be(args)
    const xv = words(b, x)
    if (xv === undefined) return undefined
    const outShape = x.shape.map((s, i) => paddings[i]![0] + s + paddings[i]![1])
    const os = stridesOf(outShape)
    const out = alloc(x.dtype as "float32" | "int32", util.sizeFromShape(outShape))
    out.fill(constantValue)
    addon.copy(xv, 0, stridesOf(x.shape), out, paddings.reduce((acc, p, i) => acc + p[0] * os[i]!, 0), os, x.shape)
    return b.makeTensorInfo(outShape, x.dtype as "float32" | "int32", out)
  })
  add("Concat", (args) => {
    const tensors = (args.inputs as unknown as Array<TensorInfo>).filter((t) => util.sizeFromShape(t.shape) > 0)
    const b = be(args)
    const first = tensors[0]
    if (first === undefined) return undefined
    const axis = util.parseAxisParam((args.attrs as { axis: number }).axis, first.shape)[0]!
    const vals = tensors.map((t) => (t.dtype === first.dtype ? words(b, t) : undefined))
    if (vals.some((v) => v === undefined)) return undefined
    const outShape = backend_util.computeOutShape(tensors.map((t) => t.shape), axis)
    const os = stridesOf(outShape)
    const out = alloc(first.dtype as "float32" | "int32", util.sizeFromShape(outShape))
    let at = 0
    tensors.forEach((t, i) => {
      addon.copy(vals[i]!, 0, stridesOf(t.shape), out, at * os[axis]!, os, t.shape)
      at += t.shape[axis]!
    })
    return b.makeTensorInfo(outShape, first.dtype as "float32" | "int32", out)
  })
  return configs
}
