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
import { backend_util, getKernel, type KernelConfig, type KernelFunc, registerKernel, type TensorInfo } from "@tensorflow/tfjs-core"

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
 * Registers the training kernels the wasm backend lacks (today: `Conv2DBackpropFilter`), once; later
 * calls do nothing. Returns the kernel names this call registered. Import `@tensorflow/tfjs-backend-wasm`
 * before calling it.
 *
 * @category kernels
 * @since 0.1.0
 */
export const registerWasmTrainingKernels = (): ReadonlyArray<string> => {
  const registered: Array<string> = []
  for (const config of [conv2DBackpropFilterConfig]) {
    if (getKernel(config.kernelName, "wasm") === undefined) {
      registerKernel(config)
      registered.push(config.kernelName)
    }
  }
  return registered
}
