/**
 * The "I train my own conv net on wasm" user: @simclr/wasm-kernels packed and installed alone next to
 * tfjs-core and the wasm backend; a conv2d gradient runs on wasm once the kernels (filter and input gradients, Tile) are registered.
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
      expect(result.registered).toEqual(["Conv2DBackpropFilter", "Conv2DBackpropInput", "Tile"])
      // All-ones 4×4 input and gradient, 3×3 "same": each tap sees the positions where both overlap:
      // corners 3·3 = 9, edges 3·4 = 12, centre 4·4 = 16.
      expect(result.dw).toEqual([9, 12, 9, 12, 16, 12, 9, 12, 9])
    })
  },
  ["@tensorflow/tfjs-core", "@tensorflow/tfjs-backend-wasm"]
)
