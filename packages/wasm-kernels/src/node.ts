/**
 * Node-only part of `@simclr/wasm-kernels`: the threaded SIMD wasm build with every core
 * (`registerThreadedWasmBackend`). Import it as `@simclr/wasm-kernels/node`.
 *
 * @since 0.1.0
 */
export { MAX_WASM_THREADS, registerThreadedWasmBackend, type ThreadedWasmOptions, type WasmThreading, wasmThreading } from "./threadedWasm.ts"
