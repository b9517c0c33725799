/**
 * The filter gradient of a 2-D convolution for the wasm backend, which has none in tfjs 4.22 (so no
 * convolutional network can train on it). It is computed as wasm's own Conv2D over transposed
 * tensors: dW[kh, kw, ci, co] = Σ_{n, oh, ow} x[n, oh·s + kh − p, ow·s + kw − p, ci] · dy[n, oh, ow, co]
 * is a convolution of xᵀ [ci, H, W, n] with dyᵀ [OH, OW, n, co] at dilation s (the stride), with the
 * forward pass's top/left padding, cropped to [kh, kw] and transposed back to [kh, kw, ci, co]. It
 * runs on XNNPACK like the forward convolution.
 *
 * @since 0.1.0
 */
import { backend_util, getGradient, getKernel, slice_util, type KernelConfig, type KernelFunc, registerGradient, registerKernel, type TensorInfo, unregisterKernel } from "@tensorflow/tfjs-core"
import { meanGradConfig, sumGradConfig } from "./gradients.ts"

type Backend = { disposeData: (dataId: object) => boolean | void }

const wasmKernel = (name: string): KernelFunc => {
  const kernel = getKernel(name, "wasm")
  if (kernel === undefined) throw new Error(`the wasm backend has no ${name} kernel: import "@tensorflow/tfjs-backend-wasm" first`)
  return kernel.kernelFunc
}

const run = (name: string, inputs: Record<string, TensorInfo>, backend: unknown, attrs: Record<string, unknown>): TensorInfo =>
  wasmKernel(name)({ inputs, backend: backend as never, attrs: attrs as never }) as TensorInfo

type Shape4 = [number, number, number, number]

interface ConvGradAttrs {
  readonly strides: [number, number] | number
  readonly pad: "valid" | "same" | number | backend_util.ExplicitPadding
  readonly dataFormat: "NHWC" | "NCHW"
  readonly dimRoundingMode?: "floor" | "round" | "ceil"
}

/** The forward convolution's geometry, as both gradients need it (NHWC only, dilation 1). */
const forwardInfo = (kernel: string, attrs: ConvGradAttrs, xShape: Shape4, filterShape: Shape4): backend_util.Conv2DInfo => {
  if (attrs.dataFormat !== "NHWC") throw new Error(`${kernel} (wasm): only NHWC is supported, got ${attrs.dataFormat}`)
  return backend_util.computeConv2DInfo(xShape, filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, "channelsLast")
}

/**
 * Runs `fn` with `step(name, inputs, attrs)`, which calls a wasm kernel and frees its output when `fn`
 * returns; `fn`'s own result (made with `final`) is kept.
 */
const withScratch = (
  backend: unknown,
  fn: (step: (name: string, inputs: Record<string, TensorInfo>, attrs: Record<string, unknown>) => TensorInfo) => TensorInfo
): TensorInfo => {
  const scratch: Array<TensorInfo> = []
  try {
    return fn((name, inputs, attrs) => {
      const out = run(name, inputs, backend, attrs)
      scratch.push(out)
      return out
    })
  } finally {
    for (const t of scratch) (backend as Backend).disposeData(t.dataId)
  }
}

/**
 * The `Conv2DBackpropFilter` kernel for the `"wasm"` backend (NHWC, dilation 1, as tfjs's gradient of
 * conv2d asks for).
 *
 * @category kernels
 * @since 0.1.0
 */
export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: "Conv2DBackpropFilter",
  backendName: "wasm",
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo }
    const a = attrs as unknown as ConvGradAttrs & { readonly filterShape: Shape4 }
    const info = forwardInfo("Conv2DBackpropFilter", a, x.shape as Shape4, a.filterShape)
    const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, inHeight: h, inWidth: w, outHeight: oh, outWidth: ow } = info
    const { top, left } = info.padInfo
    // Bottom/right padding that makes the output exactly kh × kw (negative: crop afterwards).
    const bottom = kh - h - top + (oh - 1) * sh
    const right = kw - w - left + (ow - 1) * sw
    return withScratch(backend, (step) => {
      const xt = step("Transpose", { x }, { perm: [3, 1, 2, 0] })
      const dyt = step("Transpose", { x: dy }, { perm: [1, 2, 0, 3] })
      let conv = step("Conv2D", { x: xt, filter: dyt }, {
        strides: [1, 1],
        pad: [[0, 0], [top, Math.max(0, bottom)], [left, Math.max(0, right)], [0, 0]],
        dataFormat: "NHWC",
        dilations: [sh, sw],
        dimRoundingMode: undefined
      })
      if (conv.shape[1] !== kh || conv.shape[2] !== kw) conv = step("Slice", { x: conv }, { begin: [0, 0, 0, 0], size: [conv.shape[0], kh, kw, conv.shape[3]] })
      return run("Transpose", { x: conv }, backend, { perm: [1, 2, 0, 3] })
    })
  }
}

/**
 * `Conv2DBackpropInput` for `"wasm"` as a forward Conv2D: the input gradient of a stride-s convolution
 * is the correlation of dy dilated by s (s − 1 zeros between entries) with the filter rotated by 180°
 * and its channels swapped, padded by kh − 1 − top (cropped where the forward pass dropped rows). It
 * replaces the stock kernel, which runs several times slower than wasm's Conv2D.
 *
 * @category kernels
 * @since 0.1.0
 */
export const conv2DBackpropInputConfig: KernelConfig = {
  kernelName: "Conv2DBackpropInput",
  backendName: "wasm",
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo }
    const a = attrs as unknown as ConvGradAttrs & { readonly inputShape: Shape4 }
    const info = forwardInfo("Conv2DBackpropInput", a, a.inputShape, filter.shape as Shape4)
    const { batchSize: n, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, inHeight: h, inWidth: w, outHeight: oh, outWidth: ow, outChannels: co } = info
    const { top, left } = info.padInfo
    const length = [(oh - 1) * sh + 1, (ow - 1) * sw + 1] as const
    const padTop = kh - 1 - top
    const padLeft = kw - 1 - left
    const padBottom = h - length[0] - padTop + kh - 1
    const padRight = w - length[1] - padLeft + kw - 1
    return withScratch(backend, (step) => {
      // dy dilated by the stride: [n, (oh − 1)·sh + 1, (ow − 1)·sw + 1, co].
      let d = dy
      if (sh > 1 || sw > 1) {
        const expanded = step("Reshape", { x: dy }, { shape: [n, oh, 1, ow, 1, co] })
        const padded = step("PadV2", { x: expanded }, { paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 })
        const flat = step("Reshape", { x: padded }, { shape: [n, oh * sh, ow * sw, co] })
        d = step("Slice", { x: flat }, { begin: [0, 0, 0, 0], size: [n, length[0], length[1], co] })
      }
      // The filter rotated by 180° with in/out channels swapped: [kh, kw, co, ci].
      const rotated = step("Transpose", { x: step("Reverse", { x: filter }, { dims: [0, 1] }) }, { perm: [0, 1, 3, 2] })
      // Negative padding: crop dy first (the forward pass's padding exceeded the filter's reach).
      if (padTop < 0 || padLeft < 0 || padBottom < 0 || padRight < 0) {
        const begin = [0, Math.max(0, -padTop), Math.max(0, -padLeft), 0]
        const size = [n, length[0] - begin[1]! - Math.max(0, -padBottom), length[1] - begin[2]! - Math.max(0, -padRight), co]
        d = step("Slice", { x: d }, { begin, size })
      }
      return run("Conv2D", { x: d, filter: rotated }, backend, {
        strides: [1, 1],
        pad: [[0, 0], [Math.max(0, padTop), Math.max(0, padBottom)], [Math.max(0, padLeft), Math.max(0, padRight)], [0, 0]],
        dataFormat: "NHWC",
        dilations: [1, 1],
        dimRoundingMode: undefined
      })
    })
  }
}

type HeapBackend = {
  makeOutput: (shape: Array<number>, dtype: string) => TensorInfo
  typedArrayFromHeap: (t: TensorInfo) => Float32Array | Int32Array | Uint8Array
}

/**
 * `Tile` for `"wasm"` by block copies. The gradients of broadcasting ops (batch norm's mean and variance
 * among them) tile per-channel vectors to activation size: stock wasm took 50–300 ms for
 * [1, 1, 1, 8] → [256, 32, 32, 8]; doubling `copyWithin` copies take about a millisecond.
 *
 * Axis by axis from the innermost: the d_a sub-blocks of an axis are written, then that block is repeated
 * r_a − 1 more times.
 *
 * @category kernels
 * @since 0.1.0
 */
export const tileConfig: KernelConfig = {
  kernelName: "Tile",
  backendName: "wasm",
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo }
    const reps = (attrs as unknown as { reps: Array<number> }).reps
    const heap = backend as unknown as HeapBackend
    const shape = x.shape
    const outShape = shape.map((d, i) => d * reps[i]!)
    const out = heap.makeOutput(outShape, x.dtype)
    if (outShape.reduce((a, b) => a * b, 1) === 0) return out
    const src = heap.typedArrayFromHeap(x)
    const dst = heap.typedArrayFromHeap(out)
    const rank = shape.length
    if (rank === 0) {
      dst[0] = src[0]!
      return out
    }
    // Element strides of the input and sizes of one tiled sub-block of the output, per axis.
    const inStride: Array<number> = Array.from({ length: rank }, () => 1)
    const outBlock: Array<number> = Array.from({ length: rank + 1 }, () => 1)
    inStride[rank - 1] = 1
    outBlock[rank] = 1
    for (let a = rank - 1; a >= 0; a--) {
      if (a < rank - 1) inStride[a] = inStride[a + 1]! * shape[a + 1]!
      outBlock[a] = outBlock[a + 1]! * outShape[a]!
    }
    const fill = (axis: number, from: number, to: number): void => {
      const d = shape[axis]!
      const inner = outBlock[axis + 1]!
      if (axis === rank - 1) dst.set(src.subarray(from, from + d), to)
      else for (let i = 0; i < d; i++) fill(axis + 1, from + i * inStride[axis]!, to + i * inner)
      // Repeat the first d·inner elements r times, doubling the copied span.
      const unit = d * inner
      const total = unit * reps[axis]!
      for (let done = unit; done < total; done *= 2) dst.copyWithin(to + done, to, to + Math.min(done, total - done))
    }
    fill(0, 0, 0)
    return out
  }
}

/** The stock kernels ours replaced, for the cases ours hand back to them. */
const stockKernels = new Map<string, KernelFunc>()

/**
 * True for the reduction batch norm does in training mode and in its gradient: a float32 NHWC tensor
 * reduced over N, H and W (axes 0, 1, 2, in any order or sign) to one value per channel.
 */
const isPerChannelReduction = (x: TensorInfo, axis: number | Array<number>): boolean => {
  if (x.dtype !== "float32" || x.shape.length !== 4 || x.shape.some((d) => d === 0)) return false
  const axes = new Set((Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + 4 : a)))
  return axes.size === 3 && axes.has(0) && axes.has(1) && axes.has(2)
}

/**
 * A per-channel reduction of NHWC as XNNPACK's average pooling over the whole H × W window (threaded,
 * no transpose) followed by the stock kernel over the small [N, 1, 1, C] result; a sum is the mean
 * times N·H·W.
 */
const reducePerChannel = (name: "Sum" | "Mean"): KernelFunc => ({ inputs, backend, attrs }) => {
  const { x } = inputs as { x: TensorInfo }
  const { axis, keepDims } = attrs as unknown as { axis: number | Array<number>; keepDims: boolean }
  if (!isPerChannelReduction(x, axis)) return stockKernels.get(name)!({ inputs, backend, attrs: attrs as never })
  const [n, h, w] = x.shape as [number, number, number, number]
  const stockMean = stockKernels.get("Mean")!
  return withScratch(backend, (step) => {
    const pooled = h * w === 1 ? x : step("AvgPool", { x }, { filterSize: [h, w], strides: [h, w], pad: "valid", dimRoundingMode: undefined })
    // The stock Mean over the small [N, 1, 1, C] (ours would hand it straight back here).
    const mean = stockMean({ inputs: { x: pooled }, backend, attrs: { axis: [0, 1, 2], keepDims } }) as TensorInfo
    if (name === "Mean") return mean
    const scale = step("Fill", {}, { shape: [], value: n * h * w, dtype: "float32" })
    const sum = run("Multiply", { a: mean, b: scale }, backend, {})
    ;(backend as Backend).disposeData(mean.dataId)
    return sum
  })
}

/**
 * `Sum` for `"wasm"`: over N, H and W of NHWC (batch norm's gradient, and every per-channel
 * broadcast's) as average pooling times N·H·W, where the stock kernel first transposes the whole
 * tensor to put the reduced axes last (15–30 ms → ~2 ms at 256 × 28 × 28 × 16). Any other reduction
 * goes to the stock kernel.
 *
 * @category kernels
 * @since 0.1.0
 */
export const sumConfig: KernelConfig = { kernelName: "Sum", backendName: "wasm", kernelFunc: reducePerChannel("Sum") }

/**
 * `Mean` for `"wasm"`, as `sumConfig` (batch norm's moments in training mode).
 *
 * @category kernels
 * @since 0.1.0
 */
export const meanConfig: KernelConfig = { kernelName: "Mean", backendName: "wasm", kernelFunc: reducePerChannel("Mean") }

/**
 * `Identity` for `"wasm"` without a copy: the output shares the input's memory (reference counted), as
 * the cpu backend's does. tfjs tensors are immutable, so nothing can tell the difference; the stock
 * kernel copied every element, and a training step calls it over a thousand times (gradients passed
 * through unchanged, `tf.clone`), ~10 ms per 12 MB activation. Strings go to the stock kernel.
 *
 * @category kernels
 * @since 0.1.0
 */
export const identityConfig: KernelConfig = {
  kernelName: "Identity",
  backendName: "wasm",
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo }
    if (x.dtype === "string") return stockKernels.get("Identity")!({ inputs, backend, attrs: attrs as never })
    ;(backend as unknown as { incRef: (dataId: object) => void }).incRef(x.dataId)
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype }
  }
}

/** The permutation that swaps a tensor's last two axes. */
const swapLastTwo = (rank: number): Array<number> => [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2]

/**
 * A matrix product with `transposeA` / `transposeB` as explicit transposes, then the stock kernel on
 * plain operands: stock wasm's transposed paths run 15–20× slower (a 2048×128 · 128×2048 similarity
 * matrix: 550 ms with `transposeB`, 34 ms transposed first).
 */
const withExplicitTransposes = (name: "BatchMatMul" | "_FusedMatMul"): KernelFunc => ({ inputs, backend, attrs }) => {
  const a = attrs as unknown as { transposeA: boolean; transposeB: boolean }
  const stock = stockKernels.get(name)!
  if (!a.transposeA && !a.transposeB) return stock({ inputs, backend, attrs: attrs as never })
  return withScratch(backend, (step) => {
    const operands = inputs as Record<string, TensorInfo>
    const lhs = operands["a"]!
    const rhs = operands["b"]!
    const plain = {
      ...operands,
      a: a.transposeA ? step("Transpose", { x: lhs }, { perm: swapLastTwo(lhs.shape.length) }) : lhs,
      b: a.transposeB ? step("Transpose", { x: rhs }, { perm: swapLastTwo(rhs.shape.length) }) : rhs
    }
    return stock({ inputs: plain, backend, attrs: { ...attrs, transposeA: false, transposeB: false } as never }) as TensorInfo
  })
}

/**
 * `BatchMatMul` for `"wasm"`: transposed operands are transposed explicitly first (the gradients of
 * every dense layer and NT-Xent's similarity matrix use them); plain products go to the stock kernel.
 *
 * @category kernels
 * @since 0.1.0
 */
export const batchMatMulConfig: KernelConfig = { kernelName: "BatchMatMul", backendName: "wasm", kernelFunc: withExplicitTransposes("BatchMatMul") }

/** A fused activation as its own wasm kernel: [kernel name, extra inputs, attributes]. */
const activationKernel = (activation: string, prelu: TensorInfo | undefined, alpha: number): [string, Record<string, TensorInfo>, Record<string, unknown>] | undefined => {
  switch (activation) {
    case "linear":
      return undefined
    case "relu":
      return ["Relu", {}, {}]
    case "relu6":
      return ["Relu6", {}, {}]
    case "sigmoid":
      return ["Sigmoid", {}, {}]
    case "elu":
      return ["Elu", {}, {}]
    case "leakyrelu":
      return ["LeakyRelu", {}, { alpha }]
    case "prelu":
      return ["Prelu", { alpha: prelu! }, {}]
    default:
      throw new Error(`_FusedMatMul (wasm): unknown activation "${activation}"`)
  }
}

const fusedWithExplicitTransposes = withExplicitTransposes("_FusedMatMul")

/**
 * `_FusedMatMul` (matrix product + bias + activation) for `"wasm"`. Transposed operands are transposed
 * explicitly, as in `batchMatMulConfig`. Batched products (rank 3 and more) run as the product, then the
 * bias and the activation as their own kernels: stock wasm adds the bias to the wrong rows when the
 * batch is larger than one (tfjs 4.22: [[1, 2], [3, 4]] · I + [10, 20] gives [[11, 22], [23, 24]] for
 * the first matrix). Plain matrices go to the stock fused kernel.
 *
 * @category kernels
 * @since 0.1.0
 */
export const fusedMatMulConfig: KernelConfig = {
  kernelName: "_FusedMatMul",
  backendName: "wasm",
  kernelFunc: (args) => {
    const { inputs, backend, attrs } = args
    const operands = inputs as Record<string, TensorInfo>
    if (operands["a"]!.shape.length <= 2) return fusedWithExplicitTransposes(args)
    const a = attrs as unknown as { transposeA: boolean; transposeB: boolean; activation?: string; leakyreluAlpha?: number }
    let out = batchMatMulConfig.kernelFunc({ inputs: { a: operands["a"]!, b: operands["b"]! }, backend, attrs: { transposeA: a.transposeA, transposeB: a.transposeB } as never }) as TensorInfo
    const bias = operands["bias"]
    const act = activationKernel(a.activation ?? "linear", operands["preluActivationWeights"], a.leakyreluAlpha ?? 0.2)
    if (bias !== undefined) {
      const product = out
      out = run("Add", { a: product, b: bias }, backend, {})
      ;(backend as Backend).disposeData(product.dataId)
    }
    if (act !== undefined) {
      const linear = out
      out = run(act[0], { x: linear, ...act[1] }, backend, act[2])
      ;(backend as Backend).disposeData(linear.dataId)
    }
    return out
  }
}

/** Copies `length` elements; short runs element by element (a typed-array `set` costs more than it saves). */
const copyRun = (dst: Float32Array | Int32Array | Uint8Array, to: number, src: Float32Array | Int32Array | Uint8Array, from: number, length: number): void => {
  if (length > 16) dst.set(src.subarray(from, from + length), to)
  else for (let k = 0; k < length; k++) dst[to + k] = src[from + k]!
}

/**
 * Fills `dst` with runs of `length` elements, one per index of `dims` in row-major order, each copied
 * from `src` at `sourceOf(index)` (the index array is reused between calls).
 */
const copyRuns = (
  dst: Float32Array | Int32Array | Uint8Array,
  src: Float32Array | Int32Array | Uint8Array,
  dims: ReadonlyArray<number>,
  length: number,
  sourceOf: (at: ReadonlyArray<number>) => number
): void => {
  const at: Array<number> = dims.map(() => 0)
  const count = dims.reduce((a, b) => a * b, 1)
  for (let r = 0; r < count; r++) {
    copyRun(dst, r * length, src, sourceOf(at), length)
    for (let a = dims.length - 1; a >= 0; a--) {
      if (++at[a]! < dims[a]!) break
      at[a] = 0
    }
  }
}

/**
 * `GatherV2` for `"wasm"` (no batch dimensions) as block copies in JavaScript: the stock kernel took
 * ~13 ms to gather 3,072 rows of 72 floats (a crop's resampling), this takes well under a millisecond.
 * An index outside the axis throws, naming it, as the cpu backend does. Batched gathers and strings go
 * to the stock kernel.
 *
 * @category kernels
 * @since 0.1.0
 */
export const gatherV2Config: KernelConfig = {
  kernelName: "GatherV2",
  backendName: "wasm",
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, indices } = inputs as { x: TensorInfo; indices: TensorInfo }
    const { axis, batchDims } = attrs as unknown as { axis: number; batchDims: number }
    if ((batchDims ?? 0) !== 0 || x.dtype === "string" || x.dtype === "complex64" || indices.dtype !== "int32") {
      return stockKernels.get("GatherV2")!({ inputs, backend, attrs: attrs as never })
    }
    const heap = backend as unknown as HeapBackend
    const rank = x.shape.length
    const ax = axis < 0 ? axis + rank : axis
    const axisSize = x.shape[ax]!
    const outer = x.shape.slice(0, ax).reduce((a, b) => a * b, 1)
    const inner = x.shape.slice(ax + 1).reduce((a, b) => a * b, 1)
    const out = heap.makeOutput([...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)], x.dtype)
    // After makeOutput: it may grow the heap, which replaces the views.
    const idx = heap.typedArrayFromHeap(indices)
    const src = heap.typedArrayFromHeap(x)
    const dst = heap.typedArrayFromHeap(out)
    const n = idx.length
    for (let i = 0; i < n; i++) {
      const k = idx[i]!
      if (k < 0 || k >= axisSize) {
        ;(backend as Backend).disposeData(out.dataId)
        throw new RangeError(`GatherV2: the index value ${k} is not in [0, ${axisSize - 1}]`)
      }
    }
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < n; i++) copyRun(dst, (o * n + i) * inner, src, (o * axisSize + idx[i]!) * inner, inner)
    }
    return out
  }
}

/**
 * `Reverse` for `"wasm"` as block copies in JavaScript: everything after the last reversed axis moves as
 * one block (a horizontal flip of NHWC moves C values at a time). The stock kernel took ~16 ms to flip
 * 128 images of 24×24×3. Strings go to the stock kernel.
 *
 * @category kernels
 * @since 0.1.0
 */
export const reverseConfig: KernelConfig = {
  kernelName: "Reverse",
  backendName: "wasm",
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo }
    if (x.dtype === "string" || x.dtype === "complex64") return stockKernels.get("Reverse")!({ inputs, backend, attrs: attrs as never })
    const heap = backend as unknown as HeapBackend
    const shape = x.shape
    const rank = shape.length
    const raw = (attrs as unknown as { dims: number | Array<number> }).dims
    const reversed = new Set((Array.isArray(raw) ? raw : [raw]).map((d) => (d < 0 ? d + rank : d)))
    const out = heap.makeOutput([...shape], x.dtype)
    const src = heap.typedArrayFromHeap(x)
    const dst = heap.typedArrayFromHeap(out)
    const total = shape.reduce((a, b) => a * b, 1)
    if (total === 0) return out
    if (reversed.size === 0 || rank === 0) {
      dst.set(src)
      return out
    }
    const split = Math.max(...reversed) + 1
    const block = shape.slice(split).reduce((a, b) => a * b, 1)
    const dims = shape.slice(0, split)
    // Element strides of the outer axes (in blocks).
    const stride: Array<number> = Array.from({ length: split }, () => 1)
    for (let a = split - 2; a >= 0; a--) stride[a] = stride[a + 1]! * dims[a + 1]!
    copyRuns(dst, src, dims, block, (at) => {
      let from = 0
      for (let a = 0; a < split; a++) from += (reversed.has(a) ? dims[a]! - 1 - at[a]! : at[a]!) * stride[a]!
      return from * block
    })
    return out
  }
}

/**
 * `Slice` for `"wasm"` as block copies in JavaScript: the innermost axes the slice keeps whole, plus
 * the last one it cuts, move as one run. The stock kernel walks element by element in JavaScript for
 * 4-D tensors (the convolution input gradient's crop of 256 × 47 × 47 × 16: ~7 ms, now well under
 * one). Strings go to the stock kernel.
 *
 * @category kernels
 * @since 0.1.0
 */
export const sliceConfig: KernelConfig = {
  kernelName: "Slice",
  backendName: "wasm",
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo }
    if (x.dtype === "string" || x.dtype === "complex64") return stockKernels.get("Slice")!({ inputs, backend, attrs: attrs as never })
    const shape = x.shape
    const rank = shape.length
    const params = attrs as unknown as { begin: number | Array<number>; size: number | Array<number> }
    const [begin, size] = slice_util.parseSliceParams(x, params.begin, params.size) as [Array<number>, Array<number>]
    const heap = backend as unknown as HeapBackend
    const out = heap.makeOutput(size, x.dtype)
    const total = size.reduce((a, b) => a * b, 1)
    if (total === 0) return out
    const src = heap.typedArrayFromHeap(x)
    const dst = heap.typedArrayFromHeap(out)
    if (rank === 0) {
      dst[0] = src[0]!
      return out
    }
    // The run: trailing axes kept whole, times the last axis that is cut (or the first axis).
    let split = rank - 1
    while (split > 0 && size[split] === shape[split] && begin[split] === 0) split--
    const inner = shape.slice(split + 1).reduce((a, b) => a * b, 1)
    const runLength = size[split]! * inner
    const stride: Array<number> = Array.from({ length: rank }, () => 1)
    for (let a = rank - 2; a >= 0; a--) stride[a] = stride[a + 1]! * shape[a + 1]!
    copyRuns(dst, src, size.slice(0, split), runLength, (at) => {
      let from = begin[split]! * stride[split]!
      for (let a = 0; a < split; a++) from += (begin[a]! + at[a]!) * stride[a]!
      return from
    })
    return out
  }
}

/**
 * Registers the training kernel the wasm backend lacks (`Conv2DBackpropFilter`) and replaces the slow
 * or faulty ones (`Conv2DBackpropInput`, `Tile`, `Sum`, `Mean`, `Identity`, `BatchMatMul`,
 * `_FusedMatMul`, `GatherV2`, `Reverse`, `Slice`), keeping the stock kernels for the cases ours hand
 * back; also registers `Sum`'s and `Mean`'s gradients without a ones tensor (any backend, same values).
 * Once: later calls do nothing. Returns the kernel names this call registered. Import
 * `@tensorflow/tfjs-backend-wasm` before calling it.
 *
 * @category kernels
 * @since 0.1.0
 */
export const registerWasmTrainingKernels = (): ReadonlyArray<string> => {
  // Backend-independent, same values: Sum's and Mean's gradients without a JavaScript-filled ones tensor.
  for (const config of [sumGradConfig, meanGradConfig]) if (getGradient(config.kernelName)?.gradFunc !== config.gradFunc) registerGradient(config)
  const registered: Array<string> = []
  for (const config of [conv2DBackpropFilterConfig, conv2DBackpropInputConfig, tileConfig, sumConfig, meanConfig, identityConfig, batchMatMulConfig, fusedMatMulConfig, gatherV2Config, reverseConfig, sliceConfig]) {
    const current = getKernel(config.kernelName, "wasm")
    if (current?.kernelFunc === config.kernelFunc) continue
    // A stock kernel we replace stays in use for the cases ours hand back; its setup (which binds its
    // wasm function when a backend starts) is kept, for any wasm backend started later.
    if (current !== undefined) {
      stockKernels.set(config.kernelName, current.kernelFunc)
      unregisterKernel(config.kernelName, "wasm")
    }
    registerKernel({ ...config, ...(current?.setupFunc === undefined ? {} : { setupFunc: current.setupFunc }), ...(current?.disposeFunc === undefined ? {} : { disposeFunc: current.disposeFunc }) })
    registered.push(config.kernelName)
  }
  return registered
}
