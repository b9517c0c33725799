/**
 * `@simclr/backend-onednn`: a TensorFlow.js backend for Node whose heavy kernels run natively on
 * oneDNN (convolutions and their gradients, matmul, pooling) and on OpenMP loops over every core
 * (broadcasting element-wise ops, reductions, slices, transposes, tiles, pads, concatenations, batch
 * norm). Tensors live where the cpu backend keeps them (plain typed arrays), so every other kernel is
 * the cpu backend's own.
 *
 * @since 0.1.0
 */
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu"
import { findBackend, getKernel, getKernelsForBackend, type KernelFunc, registerBackend, registerKernel, unregisterKernel } from "@tensorflow/tfjs-core"
import { loadAddon } from "./addon.ts"
import { nativeKernels } from "./kernels.ts"

/**
 * The backend's default name, as passed to `tf.setBackend`.
 *
 * @category backend
 * @since 0.1.0
 */
export const ONEDNN_BACKEND_NAME = "onednn"

/**
 * Whether the native addon is usable here, and if not, why (one line).
 *
 * @category backend
 * @since 0.1.0
 */
export type OnednnStatus =
  | { readonly available: true; readonly version: string; readonly threads: number; readonly runtime: string; readonly isa: string }
  | { readonly available: false; readonly reason: string }

/**
 * Reports whether the addon was built and loads, with oneDNN's version, thread count and instruction set.
 *
 * @category backend
 * @since 0.1.0
 */
export const onednnStatus = (): OnednnStatus => {
  const loaded = loadAddon()
  if ("reason" in loaded) return { available: false, reason: loaded.reason }
  const info = loaded.addon.info()
  return { available: true, version: info.version, threads: info.threads, runtime: info.cpuRuntime, isa: info.isa }
}

/**
 * Thrown by {@link registerOnednnBackend} when the addon is not available (its `reason` says why), or
 * for a bad option (named, with the allowed values).
 *
 * @category errors
 * @since 0.1.0
 */
export class OnednnUnavailableError extends Error {
  override readonly name = "OnednnUnavailableError"
  readonly reason: string
  constructor(reason: string) {
    super(`@simclr/backend-onednn is unavailable: ${reason}`)
    this.reason = reason
  }
}

/**
 * @category backend
 * @since 0.1.0
 */
export interface RegisterOnednnOptions {
  /** The backend's name. Default `"onednn"`. */
  readonly name?: string
  /** Its priority for `tf.ready()` without `tf.setBackend` (cpu 1, wasm 2). Default 3. */
  readonly priority?: number
  /** Threads for oneDNN and the loops (OpenMP). Default: every core (OMP_NUM_THREADS if set). */
  readonly threads?: number
}

/**
 * What {@link registerOnednnBackend} registered.
 *
 * @category backend
 * @since 0.1.0
 */
export interface RegisteredOnednn {
  readonly name: string
  /** oneDNN's version, e.g. `"2.6.3"`. */
  readonly version: string
  /** Threads the native kernels run on. */
  readonly threads: number
  /** oneDNN's threading runtime (`"OpenMP"` for Debian's build). */
  readonly runtime: string
  /**
   * The instruction set oneDNN's kernels use: `"AVX2"`, `"AVX-512"`, … (the CPU's best, or lower when
   * `ONEDNN_MAX_CPU_ISA` limits it).
   */
  readonly isa: string
  /** The kernels that run natively (the rest are the cpu backend's). */
  readonly kernels: ReadonlyArray<string>
}

/**
 * Registers the oneDNN backend (once per name; later calls return the same registration). It needs
 * `@tensorflow/tfjs-backend-cpu`'s kernels (imported here). Throws {@link OnednnUnavailableError} when
 * the addon is not built. Select it with `await tf.setBackend("onednn")`.
 *
 * @category backend
 * @since 0.1.0
 */
export const registerOnednnBackend = (options: RegisterOnednnOptions = {}): RegisteredOnednn => {
  const name = options.name ?? ONEDNN_BACKEND_NAME
  const { threads } = options
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) {
    throw new OnednnUnavailableError(`option threads: expected a positive integer, got ${threads}`)
  }
  const loaded = loadAddon()
  if ("reason" in loaded) throw new OnednnUnavailableError(loaded.reason)
  const { addon } = loaded
  if (threads !== undefined) addon.setThreads(threads)
  const previous = registered.get(name)
  if (previous !== undefined) return { ...previous, threads: addon.info().threads }

  const cpuKernels = getKernelsForBackend("cpu")
  if (cpuKernels.length === 0) throw new OnednnUnavailableError("the cpu backend's kernels are not registered (import @tensorflow/tfjs-backend-cpu)")
  if (findBackend(name) === null) registerBackend(name, () => new MathBackendCPU(), options.priority ?? 3)
  for (const k of cpuKernels) {
    if (getKernel(k.kernelName, name) === undefined) registerKernel({ ...k, backendName: name })
  }
  const cpuKernel = (kernelName: string): KernelFunc => {
    const k = getKernel(kernelName, "cpu")
    if (k === undefined) throw new OnednnUnavailableError(`the cpu backend has no ${kernelName} kernel to fall back to (tfjs-backend-cpu too old?)`)
    return k.kernelFunc
  }
  const natives = nativeKernels(addon, name, cpuKernel)
  for (const config of natives) {
    if (getKernel(config.kernelName, name) !== undefined) unregisterKernel(config.kernelName, name)
    registerKernel(config)
  }
  const info = addon.info()
  const result: RegisteredOnednn = { name, version: info.version, threads: info.threads, runtime: info.cpuRuntime, isa: info.isa, kernels: natives.map((k) => k.kernelName) }
  registered.set(name, result)
  return result
}

const registered = new Map<string, RegisteredOnednn>()
