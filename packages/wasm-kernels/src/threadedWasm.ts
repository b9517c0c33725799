/**
 * The threaded SIMD build of `@tensorflow/tfjs-backend-wasm` in Node, with every core.
 *
 * tfjs 4.22 turns wasm threads off in Node (`WASM_HAS_MULTITHREAD_SUPPORT` is false there, because its
 * pthread worker is loaded from a Blob URL, which Node's `worker_threads` cannot start), and its C++
 * side caps the thread pool at half of `emscripten_num_logical_cores()` (it assumes two hyper-threads
 * per core), so a 2-core machine gets one thread even in a browser. This module loads the same
 * threaded binary that ships in `@tensorflow/tfjs-backend-wasm` through Emscripten's documented module
 * options: `locateFile` points the pthread worker at a file (`worker/pthread-worker.cjs`, which runs
 * tfjs's own worker code), `mainScriptUrlOrBlob` at the threaded build's script, and `instantiateWasm`
 * instantiates the binary with the core count doubled, so the cap lands on the thread count asked for.
 * The backend object is tfjs's own `BackendWasm`, so every wasm kernel (and ours) runs unchanged.
 *
 * Node only (it reads files and starts worker threads); the rest of this package is plain tfjs.
 *
 * @since 0.1.0
 */
import * as tf from "@tensorflow/tfjs-core"
import { BackendWasm, getThreadsCount, setThreadsCount } from "@tensorflow/tfjs-backend-wasm"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { availableParallelism } from "node:os"
import { fileURLToPath } from "node:url"

/** The C++ side's own ceiling: tfjs pre-creates 8 pthread workers and caps its pool there. */
export const MAX_WASM_THREADS = 8

/**
 * @category models
 * @since 0.1.0
 */
export interface ThreadedWasmOptions {
  /**
   * Threads in XNNPACK's pool, the calling thread included: an integer from 1 to 8. Default: the
   * number of cores Node reports (`os.availableParallelism()`), at most 8.
   */
  readonly threads?: number
}

/**
 * What the `"wasm"` backend runs on, once it has started.
 *
 * @category models
 * @since 0.1.0
 */
export interface WasmThreading {
  /** True when the threaded SIMD build started; false when it fell back to tfjs's stock build. */
  readonly threaded: boolean
  /** Threads in XNNPACK's pool (1 for the stock build in Node). */
  readonly threads: number
  /** Why the threaded build was not used (absent when it was). */
  readonly fallbackReason?: string
}

interface EmscriptenModule {
  cwrap: (name: string, returnType: string | null, argTypes: ReadonlyArray<string>) => (...args: Array<number>) => number
  PThread?: { runningWorkers: ReadonlyArray<{ unref?: () => void }> }
  tfjs?: unknown
}

type ImportObject = { env: Record<string, unknown> } & Record<string, unknown>
/** The two calls of the WebAssembly JS API used here (the compiler's libraries here do not declare it). */
interface WebAssemblyApi {
  compile: (bytes: Uint8Array) => Promise<object>
  instantiate: (module: object, imports: ImportObject) => Promise<object>
}
const webAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly
type ModuleFactory = (config: Record<string, unknown>) => Promise<EmscriptenModule>

const WASM_BACKEND_PRIORITY = 2
let status: WasmThreading | undefined

/** Loads the threaded SIMD module with `threads` threads and wraps it in tfjs's own backend class. */
const createThreadedBackend = async (threads: number): Promise<BackendWasm> => {
  if (typeof SharedArrayBuffer === "undefined") throw new Error("SharedArrayBuffer is not available")
  const require = createRequire(import.meta.url)
  const script = require.resolve("@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js")
  const binary = script.replace(/\.js$/, ".wasm")
  const worker = fileURLToPath(new URL("../worker/pthread-worker.cjs", import.meta.url))
  const factory = require(script) as ModuleFactory
  const bytes = readFileSync(binary)
  // Emscripten cannot hear of a failed asynchronous instantiation: reject ourselves, so the caller falls
  // back to the stock build instead of waiting forever.
  const module = await new Promise<EmscriptenModule>((resolve, reject) => {
    factory({
      locateFile: (path: string, prefix: string) => path.endsWith(".worker.js") ? worker : path.endsWith(".wasm") ? binary : prefix + path,
      mainScriptUrlOrBlob: script,
      instantiateWasm: (info: ImportObject, receive: (instance: object, module: object) => void) => {
        // The C++ pool is capped at emscripten_num_logical_cores() / 2: report twice the threads wanted.
        const imports = { ...info, env: { ...info.env, emscripten_num_logical_cores: () => 2 * threads } }
        webAssembly.compile(bytes).then(async (compiled) => receive(await webAssembly.instantiate(compiled, imports), compiled)).catch(reject)
        return {}
      }
    }).then(resolve, reject)
  })
  // The same bridge tfjs's own init() sets up.
  module.tfjs = {
    init: module.cwrap("init", null, []),
    initWithThreadsCount: module.cwrap("init_with_threads_count", null, ["number"]),
    getThreadsCount: module.cwrap("get_threads_count", "number", []),
    registerTensor: module.cwrap("register_tensor", null, ["number", "number", "number"]),
    disposeData: module.cwrap("dispose_data", null, ["number"]),
    dispose: module.cwrap("dispose", null, [])
  }
  setThreadsCount(threads)
  const backend = new BackendWasm(module as never)
  // The pool's threads live as long as the backend; they must not keep Node's event loop alive.
  for (const w of module.PThread?.runningWorkers ?? []) w.unref?.()
  return backend
}

/**
 * Makes the `"wasm"` backend run tfjs's threaded SIMD build with `threads` threads in Node. Call it
 * after importing `@tensorflow/tfjs-backend-wasm` and before `tf.setBackend("wasm")`. If the threaded
 * build cannot start (no `SharedArrayBuffer`, files missing), the backend falls back to tfjs's stock
 * single-threaded build, and `wasmThreading()` says why. Throws a `RangeError` naming `threads` for a
 * bad count, and an `Error` when the wasm backend has already started.
 *
 * @category backends
 * @since 0.1.0
 */
export const registerThreadedWasmBackend = (options: ThreadedWasmOptions = {}): void => {
  const threads = options.threads ?? Math.min(MAX_WASM_THREADS, availableParallelism())
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_WASM_THREADS) {
    throw new RangeError(`threads: expected an integer from 1 to ${MAX_WASM_THREADS}, got ${threads}`)
  }
  const stock = tf.findBackendFactory("wasm")
  if (stock === null) throw new Error(`the wasm backend is not registered: import "@tensorflow/tfjs-backend-wasm" first`)
  if (tf.findBackend("wasm") !== null) throw new Error(`the wasm backend has already started: call registerThreadedWasmBackend before tf.setBackend("wasm")`)
  status = undefined
  tf.removeBackend("wasm")
  tf.registerBackend("wasm", async () => {
    try {
      const backend = await createThreadedBackend(threads)
      status = { threaded: true, threads: getThreadsCount() }
      return backend
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      const backend = await stock()
      status = { threaded: false, threads: getThreadsCount(), fallbackReason: reason }
      return backend
    }
  }, WASM_BACKEND_PRIORITY)
}

/**
 * How the started `"wasm"` backend runs: threaded or not, and with how many threads. Undefined before
 * the backend has started (or when it was not started through `registerThreadedWasmBackend`, in which
 * case `getThreadsCount()` of `@tensorflow/tfjs-backend-wasm` still answers the count).
 *
 * @category backends
 * @since 0.1.0
 */
export const wasmThreading = (): WasmThreading | undefined => status
