// Runs every native kernel over the edge cases of edge-cases.mjs on the onednn backend, for a memory
// checker: `npm run test:memcheck` runs it under valgrind (which sees reads and writes past any heap
// block, including those of oneDNN's JIT-generated code, which AddressSanitizer cannot instrument).
// The values are compared with the cpu backend by kernels.test.ts; here only memory errors count.
import "@tensorflow/tfjs-backend-cpu"
import * as tf from "@tensorflow/tfjs"
import { onednnStatus, registerOnednnBackend } from "../dist/index.js"
import { edgeCases } from "./edge-cases.mjs"

const status = onednnStatus()
if (!status.available) {
  console.error(`memcheck: the oneDNN addon is not available: ${status.reason}`)
  process.exit(1)
}
await tf.ready()
const { threads } = registerOnednnBackend()
await tf.setBackend("onednn")
const cases = edgeCases()
const started = Date.now()
for (const { label, fn } of cases) {
  const before = tf.memory().numTensors
  const out = tf.tidy(() => fn(tf))
  for (const o of Array.isArray(out) ? out : [out]) o.dataSync()
  tf.dispose(out)
  if (tf.memory().numTensors !== before) throw new Error(`memcheck: ${label} leaked tensors`)
}
console.log(`memcheck: ${cases.length} edge cases on oneDNN ${status.version} (${threads} thread${threads === 1 ? "" : "s"}) in ${((Date.now() - started) / 1000).toFixed(1)} s`)
