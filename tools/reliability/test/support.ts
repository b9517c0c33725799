/**
 * What the reliability tests share: the `simclr` command as a user runs it (the package's bin, started
 * through its own `#!` line, so with the V8 flags it sets), the backend they train on, a run folder's
 * metrics, and snapshots of a folder tree to prove that nothing outside a run folder was written.
 */
import { onednnStatus } from "@simclr/backend-onednn"
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join, relative } from "node:path"
import type { StepMetrics } from "simclr"

/** The `simclr` bin of the workspace package (what `npx simclr` runs). */
export const simclrBin = join(dirname(createRequire(import.meta.url).resolve("simclr/package.json")), "bin", "simclr.js")

/**
 * The backend to train on: oneDNN where its addon is built (deterministic since its heap corruption
 * fix), else `fallback` (the cpu backend is deterministic by construction; wasm is what `auto` takes
 * without oneDNN). Where CI requires oneDNN (`SIMCLR_REQUIRE_ONEDNN=1`) a missing addon is an error,
 * not a fallback.
 */
export const trainingBackend = <F extends "cpu" | "wasm">(fallback: F): { readonly name: "onednn" | F; readonly why: string } => {
  const status = onednnStatus()
  if (status.available) return { name: "onednn", why: `@simclr/backend-onednn (oneDNN ${status.version}, ${status.threads} threads)` }
  if (process.env["SIMCLR_REQUIRE_ONEDNN"] === "1") throw new Error(`SIMCLR_REQUIRE_ONEDNN=1 but @simclr/backend-onednn is unavailable: ${status.reason}`)
  return { name: fallback, why: `${fallback} backend (@simclr/backend-onednn unavailable: ${status.reason})` }
}

/**
 * The tiny ResNet recipe of packages/simclr/test/onednn.test.ts (8×8 images, 4 channels wide, LARS), as
 * a `simclr pretrain --config` file holds it; the tests add their epochs and checkpoint settings.
 */
export const tinyRecipe = {
  imageSize: 8,
  batchSize: 8,
  seed: 3,
  temperature: 0.5,
  encoder: { depth: 18, stem: "cifar", baseWidth: 4, blocksPerGroup: [1, 1, 1, 1], seed: 1 },
  head: { numLayers: 2, outputDim: 8, seed: 2 },
  optimizer: { name: "lars", learningRate: 0.5, scaling: "linear", weightDecay: 1e-4, warmupEpochs: 1 },
  augment: "cifar10"
} as const

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface Child {
  readonly pid: number
  /** Everything written so far. */
  readonly output: () => { readonly stdout: string; readonly stderr: string }
  readonly exit: Promise<Exit>
}

/** Starts `simclr …args` in `cwd` (the bin through its `#!` line, as a shell would). */
export const startSimclr = (args: ReadonlyArray<string>, options: { readonly cwd: string; readonly env?: NodeJS.ProcessEnv }): Child => {
  const child = spawn(simclrBin, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
  const exit = new Promise<Exit>((resolve, reject) => {
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
  if (child.pid === undefined) throw new Error(`could not start ${simclrBin}`)
  return { pid: child.pid, output: () => ({ stdout, stderr }), exit }
}

/** Runs `simclr …args` to its end. */
export const runSimclr = (args: ReadonlyArray<string>, options: { readonly cwd: string; readonly env?: NodeJS.ProcessEnv }): Promise<Exit> =>
  startSimclr(args, options).exit

/** A run folder's metrics.jsonl, every line parsed (a line that is not JSON fails, naming it). */
export const readMetrics = (out: string): Array<StepMetrics> => {
  const path = join(out, "metrics.jsonl")
  if (!existsSync(path)) return []
  return readFileSync(path, "utf8").split("\n").filter((l) => l !== "").map((line, i) => {
    try {
      return JSON.parse(line) as StepMetrics
    } catch (error) {
      throw new Error(`${path} line ${i + 1} is not JSON (${line.slice(0, 60)}): ${String(error)}`, { cause: error })
    }
  })
}

/** What a step computed: its metrics without the wall-clock speed. */
export const computed = ({ imagesPerSecond: _speed, ...rest }: StepMetrics): Omit<StepMetrics, "imagesPerSecond"> => rest

/**
 * Every entry under `root` (not following links) as "relative path → kind, size, content hash or link
 * target" (FIFOs and devices by kind only), except those under `skip` (relative paths of folders). Two
 * equal snapshots: nothing was created, deleted or changed there.
 */
export const snapshot = (root: string, skip: ReadonlyArray<string> = []): Map<string, string> => {
  const out = new Map<string, string>()
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).toSorted()) {
      const path = join(dir, name)
      const rel = relative(root, path)
      if (skip.includes(rel)) continue
      const info = lstatSync(path)
      if (info.isSymbolicLink()) out.set(rel, `link → ${readlinkSync(path)}`)
      else if (info.isDirectory()) {
        out.set(rel, "folder")
        walk(path)
      } else if (info.isFile()) out.set(rel, `file ${info.size} B sha256 ${createHash("sha256").update(readFileSync(path)).digest("hex").slice(0, 16)}`)
      // A FIFO, socket or device is named, never read (reading a FIFO blocks until a writer comes).
      else out.set(rel, `special file, mode ${info.mode.toString(8)}`)
    }
  }
  walk(root)
  return out
}

/** Paths under `root` that look like a writer's temporary files (`.tmp-…`, `….tmp`, `….tmp-<pid>`). */
export const temporaryFiles = (root: string): Array<string> =>
  [...snapshot(root).keys()].filter((rel) => rel.split("/").some((part) => part.startsWith(".tmp") || /\.tmp(-\d+)?$/.test(part)))
