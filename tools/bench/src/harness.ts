/**
 * Small benchmark harness: picks a backend, times a function (after warm-up) and reports the median,
 * min and max in ms together with the process's peak RSS.
 */
import * as tf from "@tensorflow/tfjs-core"

export type BenchBackend = "cpu" | "wasm"

export const BENCH_BACKENDS: ReadonlyArray<BenchBackend> = ["cpu", "wasm"]

export const setupBackend = async (name: BenchBackend): Promise<void> => {
  if (name === "cpu") await import("@tensorflow/tfjs-backend-cpu")
  else await import("@tensorflow/tfjs-backend-wasm")
  tf.env().set("PROD", true) // no "install tfjs-node" banner, no debug checks
  if (!(await tf.setBackend(name))) throw new Error(`backend ${name} failed to initialise`)
  await tf.ready()
}

export interface Timing {
  readonly medianMs: number
  readonly minMs: number
  readonly maxMs: number
  readonly runs: number
}

/** Runs `fn` `warmup` times untimed, then `runs` times timed; `fn` must block until its work is done. */
export const time = (fn: () => void, runs: number, warmup = 1): Timing => {
  for (let i = 0; i < warmup; i++) fn()
  const samples: Array<number> = []
  for (let i = 0; i < runs; i++) {
    const start = performance.now()
    fn()
    samples.push(performance.now() - start)
  }
  samples.sort((a, b) => a - b)
  return {
    medianMs: samples[Math.floor(samples.length / 2)]!,
    minMs: samples[0]!,
    maxMs: samples[samples.length - 1]!,
    runs
  }
}

/** Peak resident set size of this process so far, in MB (Linux: from /proc via process.resourceUsage). */
export const peakRssMb = (): number => process.resourceUsage().maxRSS / 1024

export const parseFlag = (name: string, fallback: string): string => {
  const prefix = `--${name}=`
  const arg = process.argv.find((a) => a.startsWith(prefix))
  return arg === undefined ? fallback : arg.slice(prefix.length)
}

/** Which part of a step a kernel belongs to. */
export const categoryOf = (kernel: string): string | undefined => {
  // Op wrappers (customGrad ops such as fused conv2d) are listed around the kernels they run: skip them.
  if (kernel.endsWith("__op")) return undefined
  if (/^(Conv2D|FusedConv2D|DepthwiseConv2dNative)$/.test(kernel)) return "conv forward"
  if (kernel === "Conv2DBackpropInput") return "conv backward (data)"
  if (kernel === "Conv2DBackpropFilter") return "conv backward (filter)"
  if (/BatchNorm|Moments|Mean|Rsqrt|Sqrt|SquaredDifference|Variance/.test(kernel)) return "batch norm & reductions"
  if (/MatMul|BatchMatMul|_FusedMatMul/.test(kernel)) return "matmul (head, loss)"
  if (/Gather|Slice|Concat|Pad|Reshape|Transpose|Tile|Reverse|Split|Unpack|Pack|Identity|Cast|OneHot/.test(kernel)) return "data movement"
  return "element-wise & other"
}
