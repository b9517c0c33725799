/**
 * Loading the native addon (built at install time by `scripts/build-addon.mjs`, optional).
 */
import { existsSync, readFileSync } from "node:fs"
import { createRequire } from "node:module"

type F32 = Float32Array
type Dims = ReadonlyArray<number>

/** The addon's functions; every output array is allocated by the caller. @internal */
export interface Addon {
  info(): { version: string; threads: number; cpuRuntime: string; isa: string }
  setThreads(threads: number): void
  conv2d(x: F32, xShape: Dims, w: F32, wShape: Dims, y: F32, yShape: Dims, strides: Dims, dilations: Dims, pads: Dims, bias: F32 | null, relu: boolean): void
  conv2dBackwardData(dy: F32, dyShape: Dims, w: F32, wShape: Dims, dx: F32, xShape: Dims, strides: Dims, dilations: Dims, pads: Dims): void
  conv2dBackwardFilter(x: F32, xShape: Dims, dy: F32, dyShape: Dims, dw: F32, wShape: Dims, strides: Dims, dilations: Dims, pads: Dims): void
  matmul(a: F32, aShape: Dims, b: F32, bShape: Dims, transposeA: boolean, transposeB: boolean, out: F32, bias: F32 | null, relu: boolean): void
  pool2d(isMax: boolean, x: F32, xShape: Dims, y: F32, yShape: Dims, kernel: Dims, strides: Dims, pads: Dims): void
  pool2dBackward(isMax: boolean, dy: F32, yShape: Dims, x: F32, xShape: Dims, dx: F32, kernel: Dims, strides: Dims, pads: Dims): void
  /** Ops 0–7 write float32, the comparisons (8–13) bool (Uint8Array). */
  binary(op: number, a: F32, aShape: Dims, b: F32, bShape: Dims, out: F32 | Uint8Array, outShape: Dims): void
  unary(op: number, x: F32, out: F32, alpha: number, beta: number): void
  batchNorm(x: F32, out: F32, channels: number, mean: F32, variance: F32, offset: F32 | null, scale: F32 | null, epsilon: number): void
  bnTrain(x: F32, channels: number, scale: F32 | null, offset: F32 | null, epsilon: number, y: F32, mean: F32, variance: F32): void
  bnTrainGrad(dy: F32, x: F32, channels: number, scale: F32 | null, mean: F32, variance: F32, epsilon: number, dx: F32, dscale: F32, doffset: F32): void
  reduce(op: number, x: F32, dims: Dims, out: F32): void
  gather(x: Float32Array | Int32Array, dims: Dims, indices: Int32Array, out: Float32Array | Int32Array): void
  select(condition: Uint8Array, a: Float32Array | Int32Array, b: Float32Array | Int32Array, out: Float32Array | Int32Array): void
  copy(src: Float32Array | Int32Array, srcOffset: number, srcStrides: Dims, dst: Float32Array | Int32Array, dstOffset: number, dstStrides: Dims, shape: Dims): void
}

const ADDON_PATH = "../build/Release/simclr_onednn.node"
/**
 * Another build of the addon to load instead (an absolute path): the AddressSanitizer build that
 * `npm run test:asan` makes and tests. Not for production use.
 */
const ADDON_OVERRIDE = "SIMCLR_ONEDNN_ADDON"
const MARKER = new URL("../build/UNAVAILABLE", import.meta.url)

let loaded: { readonly addon: Addon } | { readonly reason: string } | undefined

/** The addon, or why it is not there (the install script's reason, or the loader's error). @internal */
export const loadAddon = (): { readonly addon: Addon } | { readonly reason: string } => {
  if (loaded !== undefined) return loaded
  try {
    loaded = { addon: createRequire(import.meta.url)(process.env[ADDON_OVERRIDE] || ADDON_PATH) as Addon }
  } catch (error) {
    const recorded = process.env[ADDON_OVERRIDE] ? undefined : existsSync(MARKER) ? readFileSync(MARKER, "utf8").trim() : undefined
    const message = error instanceof Error ? error.message.split("\n")[0] ?? String(error) : String(error)
    loaded = {
      reason: recorded ?? (/Cannot find module/.test(message)
        ? "the native addon is not built (install libdnnl-dev, then npm run build:addon --workspace @simclr/backend-onednn)"
        : `the native addon did not load: ${message}`)
    }
  }
  return loaded
}
