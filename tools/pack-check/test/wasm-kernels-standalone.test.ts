/**
 * The "I train my own conv net on wasm" user: @simclr/wasm-kernels packed and installed alone next to
 * tfjs-core and the wasm backend; a conv2d gradient runs on wasm once the kernels are registered, and
 * `@simclr/wasm-kernels/node` starts the threaded build (its worker file ships in the package) and lets
 * the process exit.
 */
import { expect, it } from "vitest"
import { describeStandalone } from "./install.ts"

describeStandalone(
  "@simclr/wasm-kernels",
  (installed) => {
    it("registers the filter and input gradients, and a conv2d filter gradient runs on wasm", () => {
      const out = installed().runScript(`import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-wasm"
import { registerWasmTrainingKernels } from "@simclr/wasm-kernels"
await tf.setBackend("wasm")
const before = tf.getKernel("Conv2DBackpropFilter", "wasm") !== undefined
const registered = registerWasmTrainingKernels()
const x = tf.ones([1, 4, 4, 1])
const dy = tf.ones([1, 4, 4, 1])
const dw = tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, { strides: [1, 1], pad: "same", dataFormat: "NHWC", filterShape: [3, 3, 1, 1] })
console.log(JSON.stringify({ before, registered, dw: Array.from(dw.dataSync()) }))
`)
      const result = JSON.parse(out.trim().split("\\n").at(-1)!) as { before: boolean; registered: Array<string>; dw: Array<number> }
      expect(result.before).toBe(false)
      expect(result.registered).toEqual([
        "Conv2DBackpropFilter",
        "Conv2DBackpropInput",
        "Tile",
        "Sum",
        "Mean",
        "Identity",
        "BatchMatMul",
        "_FusedMatMul",
        "GatherV2",
        "Reverse",
        "Slice"
      ])
      // All-ones 4×4 input and gradient, 3×3 "same": each tap sees the positions where both overlap:
      // corners 3·3 = 9, edges 3·4 = 12, centre 4·4 = 16.
      expect(result.dw).toEqual([9, 12, 9, 12, 16, 12, 9, 12, 9])
    })

    it("/node: the threaded SIMD build starts from the installed package, computes the same gradient, and the process exits", () => {
      const out = installed().runScript(`import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-wasm"
import { registerWasmTrainingKernels } from "@simclr/wasm-kernels"
import { registerThreadedWasmBackend, wasmThreading } from "@simclr/wasm-kernels/node"
registerThreadedWasmBackend({ threads: 2 })
await tf.setBackend("wasm")
registerWasmTrainingKernels()
const x = tf.ones([1, 4, 4, 1])
const dy = tf.ones([1, 4, 4, 1])
const dw = tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, { strides: [1, 1], pad: "same", dataFormat: "NHWC", filterShape: [3, 3, 1, 1] })
console.log(JSON.stringify({ threading: wasmThreading(), dw: Array.from(dw.dataSync()) }))
`)
      const result = JSON.parse(out.trim().split("\\n").at(-1)!) as { threading: { threaded: boolean; threads: number }; dw: Array<number> }
      expect(result.threading).toEqual({ threaded: true, threads: 2 })
      expect(result.dw).toEqual([9, 12, 9, 12, 16, 12, 9, 12, 9])
    })
  },
  ["@tensorflow/tfjs-core", "@tensorflow/tfjs-backend-wasm"]
)
