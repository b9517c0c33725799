// The pthread worker of @tensorflow/tfjs-backend-wasm's threaded SIMD build, as a file Node's
// worker_threads can start. tfjs ships the worker only as a string (wasmWorkerContents) that browsers
// load from a Blob URL; Node cannot start a worker from a Blob URL. Emscripten's worker code supports
// Node (it uses worker_threads' parentPort when it finds `process`), so this file evaluates that same
// string, in this worker's global scope, with `require` and `__filename` visible to it.
"use strict"
const { wasmWorkerContents } = require("@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js")
globalThis.require = require
// oxlint-disable-next-line no-underscore-dangle -- Emscripten's worker reads this CommonJS global
globalThis.__filename = __filename
// tfjs escapes the string's newlines the same way before making its Blob (its template literal turned
// the "\n" escapes inside string literals into real newlines).
// oxlint-disable-next-line no-eval -- running tfjs's own worker code is this file's whole purpose
;(0, eval)(wasmWorkerContents.replace(/\n/g, "\\n"))
