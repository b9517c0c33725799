/**
 * Choosing the tfjs backend once, at start-up: `auto` takes the fastest one installed and says why.
 *
 * @since 0.1.0
 */
import * as tf from "@tensorflow/tfjs-core"
import { Data, Effect } from "effect"
import { registerWasmTrainingKernels } from "@simclr/wasm-kernels"
import { MAX_WASM_THREADS, registerThreadedWasmBackend, wasmThreading } from "@simclr/wasm-kernels/node"
import { getThreadsCount } from "@tensorflow/tfjs-backend-wasm"
import { createRequire } from "node:module"

/**
 * @category models
 * @since 0.1.0
 */
export type BackendChoice = "auto" | "tensorflow" | "onednn" | "wasm" | "cpu"

/**
 * @category constants
 * @since 0.1.0
 */
export const BACKEND_CHOICES: ReadonlyArray<BackendChoice> = ["auto", "tensorflow", "onednn", "wasm", "cpu"]

/**
 * The requested backend is not installed or did not start.
 *
 * @category errors
 * @since 0.1.0
 */
export class BackendUnavailableError extends Data.TaggedError("BackendUnavailableError")<{
  readonly backend: string
  readonly reason: string
  /** The command that installs it. */
  readonly install: string
}> {
  override get message(): string {
    return `backend "${this.backend}" is unavailable: ${this.reason}. Install it with: ${this.install}`
  }
}

/**
 * An option of `selectBackend` is out of range (the message names it and the allowed values).
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidBackendOptionError extends Data.TaggedError("InvalidBackendOptionError")<{
  readonly option: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.option}: ${this.reason}`
  }
}

/**
 * @category models
 * @since 0.1.0
 */
export interface SelectedBackend {
  /** tfjs's name for it: `"tensorflow"`, `"onednn"`, `"wasm"` or `"cpu"`. */
  readonly name: string
  /** The package that provides it. */
  readonly package: string
  /** Why this one: what `auto` found and skipped, and for wasm how many threads it runs. */
  readonly reason: string
  /** Threads the backend computes with, where known (wasm: XNNPACK's pool, the calling thread included; onednn: OpenMP's). */
  readonly threads?: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface SelectBackendOptions {
  /**
   * Threads for the wasm backend (its threaded SIMD build, from `@simclr/wasm-kernels/node`), 1–8.
   * Default: every core Node reports. Only takes effect when wasm starts for the first time in the process.
   */
  readonly wasmThreads?: number
}

interface Candidate {
  readonly name: "tensorflow" | "onednn" | "wasm" | "cpu"
  readonly package: string
}

const CANDIDATES: ReadonlyArray<Candidate> = [
  { name: "tensorflow", package: "@tensorflow/tfjs-node-gpu" },
  { name: "tensorflow", package: "@tensorflow/tfjs-node" },
  { name: "onednn", package: "@simclr/backend-onednn" },
  { name: "wasm", package: "@tensorflow/tfjs-backend-wasm" },
  { name: "cpu", package: "@tensorflow/tfjs-backend-cpu" }
]

const threadCount = (n: number): string => `${n} thread${n === 1 ? "" : "s"}`

/** Dynamic import by a computed specifier, so bundlers and vitest leave the optional peers alone. */
const importOptional = (specifier: string): Promise<unknown> => import(/* @vite-ignore */ specifier)

const isInstalled = (specifier: string): boolean => {
  try {
    createRequire(import.meta.url).resolve(specifier)
    return true
  } catch {
    return false
  }
}

/** What the oneDNN backend reports once registered: its version, thread count, threading runtime and instruction set. */
interface OnednnDetail {
  readonly version: string
  readonly threads: number
  readonly runtime: string
  readonly isa: string
}

/** Imports, registers and selects one candidate; for the oneDNN backend, returns what it reports. */
const tryCandidate = (c: Candidate, options: SelectBackendOptions): Effect.Effect<OnednnDetail | undefined, BackendUnavailableError> =>
  Effect.tryPromise({
    try: async () => {
      if (!isInstalled(c.package)) throw new Error("not installed")
      const loaded = await importOptional(c.package)
      // The oneDNN addon is optional (built at install time when oneDNN is there): its reason is the error.
      const onednn = c.name === "onednn" ? (loaded as typeof import("@simclr/backend-onednn")).registerOnednnBackend() : undefined
      // tfjs runs wasm single-threaded in Node: start its threaded SIMD build instead (once per process).
      if (c.name === "wasm" && tf.findBackend("wasm") === null) registerThreadedWasmBackend(options.wasmThreads === undefined ? {} : { threads: options.wasmThreads })
      if (!(await tf.setBackend(c.name))) throw new Error(`tf.setBackend("${c.name}") returned false`)
      await tf.ready()
      return onednn
    },
    catch: (error) =>
      new BackendUnavailableError({
        backend: c.name,
        reason: `${c.package}: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`,
        install: c.name === "onednn"
          ? "apt-get install libdnnl-dev (Debian/Ubuntu; elsewhere your oneDNN package), then npm rebuild @simclr/backend-onednn"
          : `npm install ${c.package}@${tf.version_core}`
      })
  })

/**
 * Imports, registers and selects a backend, and registers the gradients of every op (tfjs-core alone
 * has none). `"auto"` tries `@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node`, `@simclr/backend-onednn`
 * (native CPU kernels, where its addon was built), then the wasm and the cpu backend, and reports which
 * it took and why the faster ones were skipped. Asking for one that is not
 * installed fails with a `BackendUnavailableError` naming the install command.
 *
 * @category backends
 * @since 0.1.0
 */
export const selectBackend = (
  choice: BackendChoice,
  options: SelectBackendOptions = {}
): Effect.Effect<SelectedBackend, BackendUnavailableError | InvalidBackendOptionError> =>
  Effect.gen(function*() {
    // tfjs-core registers no op gradients; its gradient files are not loadable by Node's ESM resolver,
    // and the union package's Node bundle registers them all (with the shared tfjs-core).
    yield* Effect.promise(() => importOptional("@tensorflow/tfjs"))
    if (!BACKEND_CHOICES.includes(choice)) {
      return yield* new BackendUnavailableError({ backend: String(choice), reason: `not a backend; allowed: ${BACKEND_CHOICES.join(", ")}`, install: "—" })
    }
    const wanted = options.wasmThreads
    if (wanted !== undefined && (!Number.isInteger(wanted) || wanted < 1 || wanted > MAX_WASM_THREADS)) {
      return yield* new InvalidBackendOptionError({ option: "wasmThreads", reason: `expected an integer from 1 to ${MAX_WASM_THREADS}, got ${wanted}` })
    }
    const candidates = choice === "auto" ? CANDIDATES : CANDIDATES.filter((c) => c.name === choice)
    const skipped: Array<string> = []
    let last: BackendUnavailableError | undefined
    for (const candidate of candidates) {
      const result = yield* Effect.result(tryCandidate(candidate, options))
      if (result._tag === "Success") {
        const how = choice === "auto"
          ? `auto: took ${candidate.package}${skipped.length > 0 ? `; skipped ${skipped.join("; ")}` : " (the fastest candidate)"}`
          : "requested"
        const onednn = result.success
        if (onednn !== undefined) {
          return { name: candidate.name, package: candidate.package, reason: `${how}; oneDNN ${onednn.version}, ${threadCount(onednn.threads)} (${onednn.runtime}), ${onednn.isa}`, threads: onednn.threads }
        }
        if (candidate.name !== "wasm") return { name: candidate.name, package: candidate.package, reason: how }
        // Stock wasm cannot train convolutions (no Conv2DBackpropFilter): add the missing kernels.
        const added = registerWasmTrainingKernels()
        // Undefined when the wasm backend was started before selectBackend (e.g. by the application).
        const threading = wasmThreading() ?? { threaded: false, threads: getThreadsCount(), fallbackReason: "wasm was started before selectBackend, with tfjs's own build" }
        const build = threading.threaded
          ? `threaded SIMD build, ${threadCount(threading.threads)}`
          : `tfjs's stock build, ${threadCount(threading.threads)} (${threading.fallbackReason ?? "the threaded build did not start"})`
        const kernels = `training kernels from @simclr/wasm-kernels${added.length > 0 ? ` (${added.join(", ")})` : ""}`
        return { name: candidate.name, package: candidate.package, reason: `${how}; ${build}; ${kernels}`, threads: threading.threads }
      }
      last = result.failure
      skipped.push(`${candidate.package} (${result.failure.reason.slice(candidate.package.length + 2)})`)
    }
    return yield* last!
  })
