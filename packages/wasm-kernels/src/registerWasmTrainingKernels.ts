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
import { backend_util, getKernel, type KernelConfig, type KernelFunc, registerKernel, type TensorInfo, unregisterKernel } from "@tensorflow/tfjs-core"

type Backend = { disposeData: (dataId: object) => boolean | void }

const wasmKernel = (name: string): KernelFunc => {
  const kernel = getKernel(name, "wasm")
  if (kernel === undefined) throw new Error(`the wasm backend has no ${name} kernel: import "@tensorflow/tfjs-backend-wasm" first`)
  return kernel.kernelFunc
}

const run = (name: string, inputs: Record<string, TensorInfo>, backend: unknown, attrs: Record<string, unknown>): TensorInfo =>
  wasmKernel(name)({ inputs, backend: backend as never, attrs: attrs as never }) as TensorInfo

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
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as {
      strides: [number, number] | number
      pad: "valid" | "same" | number | backend_util.ExplicitPadding
      dataFormat: "NHWC" | "NCHW"
      dimRoundingMode?: "floor" | "round" | "ceil"
      filterShape: [number, number, number, number]
    }
    if (dataFormat !== "NHWC") throw new Error(`Conv2DBackpropFilter (wasm): only NHWC is supported, got ${dataFormat}`)
    const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, "channelsLast")
    const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, inHeight: h, inWidth: w, outHeight: oh, outWidth: ow } = info
    const top = info.padInfo.top
    const left = info.padInfo.left
    // Bottom/right padding that makes the output exactly kh × kw (negative: crop afterwards).
    const bottom = kh - h - top + (oh - 1) * sh
    const right = kw - w - left + (ow - 1) * sw
    const disposable: Array<TensorInfo> = []
    const b = backend as Backend
    try {
      const xt = run("Transpose", { x }, backend, { perm: [3, 1, 2, 0] })
      disposable.push(xt)
      const dyt = run("Transpose", { x: dy }, backend, { perm: [1, 2, 0, 3] })
      disposable.push(dyt)
      let conv = run("Conv2D", { x: xt, filter: dyt }, backend, {
        strides: [1, 1],
        pad: [[0, 0], [top, Math.max(0, bottom)], [left, Math.max(0, right)], [0, 0]],
        dataFormat: "NHWC",
        dilations: [sh, sw],
        dimRoundingMode: undefined
      })
      disposable.push(conv)
      if (conv.shape[1] !== kh || conv.shape[2] !== kw) {
        conv = run("Slice", { x: conv }, backend, { begin: [0, 0, 0, 0], size: [conv.shape[0], kh, kw, conv.shape[3]] })
        disposable.push(conv)
      }
      return run("Transpose", { x: conv }, backend, { perm: [1, 2, 0, 3] })
    } finally {
      for (const t of disposable) b.disposeData(t.dataId)
    }
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
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as {
      strides: [number, number] | number
      pad: "valid" | "same" | number | backend_util.ExplicitPadding
      dataFormat: "NHWC" | "NCHW"
      dimRoundingMode?: "floor" | "round" | "ceil"
      inputShape: [number, number, number, number]
    }
    if (dataFormat !== "NHWC") throw new Error(`Conv2DBackpropInput (wasm): only NHWC is supported, got ${dataFormat}`)
    const info = backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, "channelsLast")
    const { batchSize: n, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, inHeight: h, inWidth: w, outHeight: oh, outWidth: ow } = info
    const co = info.outChannels
    const top = info.padInfo.top
    const left = info.padInfo.left
    const disposable: Array<TensorInfo> = []
    const b = backend as Backend
    const keep = (t: TensorInfo): TensorInfo => {
      disposable.push(t)
      return t
    }
    try {
      // dy dilated by the stride: [n, (oh − 1)·sh + 1, (ow − 1)·sw + 1, co].
      let d = dy
      if (sh > 1 || sw > 1) {
        const expanded = keep(run("Reshape", { x: dy }, backend, { shape: [n, oh, 1, ow, 1, co] }))
        const padded = keep(run("PadV2", { x: expanded }, backend, { paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 }))
        const flat = keep(run("Reshape", { x: padded }, backend, { shape: [n, oh * sh, ow * sw, co] }))
        d = keep(run("Slice", { x: flat }, backend, { begin: [0, 0, 0, 0], size: [n, (oh - 1) * sh + 1, (ow - 1) * sw + 1, co] }))
      }
      // The filter rotated by 180° with in/out channels swapped: [kh, kw, co, ci].
      const reversed = keep(run("Reverse", { x: filter }, backend, { dims: [0, 1] }))
      const rotated = keep(run("Transpose", { x: reversed }, backend, { perm: [0, 1, 3, 2] }))
      const length = [(oh - 1) * sh + 1, (ow - 1) * sw + 1] as const
      const padTop = kh - 1 - top
      const padLeft = kw - 1 - left
      const padBottom = h - length[0] - padTop + kh - 1
      const padRight = w - length[1] - padLeft + kw - 1
      // Negative padding: crop dy first (the forward pass's padding exceeded the filter's reach).
      let source = d
      if (padTop < 0 || padLeft < 0 || padBottom < 0 || padRight < 0) {
        const begin = [0, Math.max(0, -padTop), Math.max(0, -padLeft), 0]
        const size = [n, length[0] - begin[1]! - Math.max(0, -padBottom), length[1] - begin[2]! - Math.max(0, -padRight), co]
        source = keep(run("Slice", { x: d }, backend, { begin, size }))
      }
      return run("Conv2D", { x: source, filter: rotated }, backend, {
        strides: [1, 1],
        pad: [[0, 0], [Math.max(0, padTop), Math.max(0, padBottom)], [Math.max(0, padLeft), Math.max(0, padRight)], [0, 0]],
        dataFormat: "NHWC",
        dilations: [1, 1],
        dimRoundingMode: undefined
      })
    } finally {
      for (const t of disposable) b.disposeData(t.dataId)
    }
  }
}

/**
 * Registers the training kernels the wasm backend lacks (`Conv2DBackpropFilter`) and replaces its slow
 * `Conv2DBackpropInput`, once; later calls do nothing. Returns the kernel names this call registered. Import `@tensorflow/tfjs-backend-wasm`
 * before calling it.
 *
 * @category kernels
 * @since 0.1.0
 */
export const registerWasmTrainingKernels = (): ReadonlyArray<string> => {
  const registered: Array<string> = []
  for (const config of [conv2DBackpropFilterConfig, conv2DBackpropInputConfig]) {
    const current = getKernel(config.kernelName, "wasm")
    if (current?.kernelFunc === config.kernelFunc) continue
    // The stock input gradient exists but is slow: ours replaces it.
    if (current !== undefined) unregisterKernel(config.kernelName, "wasm")
    registerKernel(config)
    registered.push(config.kernelName)
  }
  return registered
}
