/**
 * The benchmark suite in one command: a table per backend with a SimCLR training step for the two
 * configurations PyTorch was measured on (issue 7), NT-Xent at N = 1024, one augmented view of a batch,
 * the data stream from JPEGs, and a per-kernel profile of one step (where the time goes).
 *
 *   npm run bench                                  everything, on onednn (where built), wasm and cpu
 *   npm run bench -- --backends=onednn,wasm --only=step,profile [--threads=2] [--runs=3] [--cpu-steps]
 *
 * `--only` takes row names or the prefix `step` (every step row).
 *
 * Rows: step-r18-32, step-r18x025-28, step-v2-r18x025-28 (SimCLR v2: momentum network and memory queue),
 * step-demo, ntxent, augment, data, profile. Each row runs in its
 * own Node process, so its peak RSS is its own. On cpu the two ResNet-18 steps are skipped unless
 * `--cpu-steps` is given (issue 7 measured ≈ 3.6 h and ≈ 21 min per step there), and so is the demo
 * network's (minutes per step).
 */
import { execFileSync } from "node:child_process"
import { availableParallelism, cpus } from "node:os"
import { fileURLToPath } from "node:url"
import { onednnStatus } from "@simclr/backend-onednn"
import { parseFlag } from "./harness.ts"

/** What one row prints (as the last line of its process's stdout). */
export interface RowResult {
  readonly row: string
  readonly label: string
  readonly backend: string
  readonly threads?: number
  readonly batch: string
  readonly msMedian: number
  readonly msMin: number
  readonly msMax: number
  readonly runs: number
  /** Images (or embeddings, for the loss) per second at the median. */
  readonly perSecond: number
  readonly unit: string
  readonly peakRssMb: number
  readonly note?: string
  readonly profile?: ReadonlyArray<{ readonly part: string; readonly ms: number; readonly kernels: number }>
  readonly stepMs?: number
}

/** PyTorch 1.13 on the same machine, 2 threads (issue 7): ms per step. */
const PYTORCH_MS: Record<string, number> = { "step-r18-32": 2750, "step-r18x025-28": 390 }

const ROWS = ["step-r18-32", "step-r18x025-28", "step-v2-r18x025-28", "step-demo", "ntxent", "augment", "data", "profile"] as const
const CPU_SKIPPED: Record<string, string> = {
  "step-r18-32": "skipped on cpu: ≈ 3.6 h per step (issue 7); --cpu-steps runs it",
  "step-r18x025-28": "skipped on cpu: ≈ 21 min per step (issue 7); --cpu-steps runs it",
  "step-v2-r18x025-28": "skipped on cpu: the ×0.25 step plus a forward pass, ≈ 21 min per step; --cpu-steps runs it",
  "step-demo": "skipped on cpu: minutes per step (16.3 s for 16 images of 16×16 on this network's 8-wide sibling); --cpu-steps runs it",
  profile: "profiled on wasm only (the cpu backend's convolutions dominate everything)"
}

// By default every backend that runs here: oneDNN where its addon was built, wasm, cpu.
const onednn = onednnStatus()
const backends = parseFlag("backends", onednn.available ? "onednn,wasm,cpu" : "wasm,cpu").split(",").filter((b) => b !== "")
// A filter names rows, or a prefix of them ("step" = every step-… row).
const filters = parseFlag("only", ROWS.join(",")).split(",").filter((r) => r !== "")
const matches = (row: string, filter: string) => row === filter || row.startsWith(`${filter}-`)
const only = ROWS.filter((row) => filters.some((f) => matches(row, f)))
const threads = parseFlag("threads", "")
const runs = parseFlag("runs", "")
const cpuSteps = process.argv.includes("--cpu-steps")
for (const b of backends) if (b !== "onednn" && b !== "wasm" && b !== "cpu") throw new Error(`--backends: expected onednn, wasm and/or cpu, got ${b}`)
if (!onednn.available && backends.includes("onednn")) throw new Error(`--backends: onednn is not available here: ${onednn.reason}`)
for (const f of filters) if (!ROWS.some((row) => matches(row, f))) throw new Error(`--only: unknown row ${f}; known: ${ROWS.join(", ")} (or the prefix "step")`)

/**
 * Every row runs with the flags the `simclr` command uses: V8's concurrent GC threads otherwise take
 * cores from the kernels' threads (ResNet-18 ×0.25 step on oneDNN: 1.8 s → 1.0 s).
 */
const NODE_FLAGS = ["--single-threaded-gc", "--max-semi-space-size=64"]

const rowScript = fileURLToPath(new URL("./row.js", import.meta.url))

const runRow = (row: string, backend: string): RowResult | { readonly row: string; readonly error: string } => {
  const args = [rowScript, `--row=${row}`, `--backend=${backend}`, ...(threads === "" ? [] : [`--threads=${threads}`]), ...(runs === "" ? [] : [`--runs=${runs}`])]
  try {
    const out = execFileSync(process.execPath, [...NODE_FLAGS, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 26 })
    return JSON.parse(out.trim().split("\n").at(-1)!) as RowResult
  } catch (error) {
    return { row, error: error instanceof Error ? error.message.split("\n")[0]! : String(error) }
  }
}

/** Our time over PyTorch's: "1.3× slower" or "1.2× faster". */
const ratio = (r: number): string => (r >= 1 ? `${r.toFixed(r < 2 ? 2 : 1)}× slower` : `${(1 / r).toFixed(2)}× faster`)

const fmt = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms >= 100 ? 0 : 1)} ms`)

console.log(`simclr-ts benchmarks — ${cpus()[0]?.model ?? "unknown CPU"}, ${availableParallelism()} cores, node ${process.version}`)
for (const backend of backends) {
  const results: Array<RowResult> = []
  const lines: Array<string> = []
  console.log(`\n## backend: ${backend}\n`)
  console.log("| benchmark | batch | time (median; min–max, runs) | throughput | peak RSS | PyTorch 2 threads | ratio |")
  console.log("|---|---|---|---|---|---|---|")
  for (const row of only) {
    if (backend === "cpu" && CPU_SKIPPED[row] !== undefined && !(cpuSteps && row.startsWith("step"))) {
      lines.push(`${row}: ${CPU_SKIPPED[row]}`)
      continue
    }
    if (row === "data" && backend !== backends[0]) {
      lines.push("data: no tensors, the same on every backend (see the first table)")
      continue
    }
    const r = runRow(row, backend)
    if ("error" in r) {
      console.log(`| ${row} | — | failed: ${r.error} | | | | |`)
      continue
    }
    results.push(r)
    if (r.row === "profile") continue
    const torch = PYTORCH_MS[r.row]
    const threadNote = r.threads === undefined ? "" : ` (${r.threads} thread${r.threads === 1 ? "" : "s"})`
    console.log(
      `| ${r.label}${threadNote} | ${r.batch} | ${fmt(r.msMedian)} (${fmt(r.msMin)}–${fmt(r.msMax)}, ${r.runs}) | ${r.perSecond.toFixed(1)} ${r.unit} | ${r.peakRssMb.toFixed(0)} MB | ${torch === undefined ? "" : fmt(torch)} | ${torch === undefined ? "" : ratio(r.msMedian / torch)} |`
    )
  }
  for (const r of results) if (r.note !== undefined) lines.push(`${r.row}: ${r.note}`)
  if (lines.length > 0) console.log(`\n${lines.map((l) => `- ${l}`).join("\n")}`)
  const profile = results.find((r) => r.row === "profile")
  if (profile?.profile !== undefined) {
    const total = profile.stepMs ?? profile.profile.reduce((a, p) => a + p.ms, 0)
    console.log(`\n### where one step's time goes: ${profile.label}, ${profile.batch}${profile.threads === undefined ? "" : `, ${profile.threads} threads`}\n`)
    console.log("| part | ms | share of the step | kernels |")
    console.log("|---|---|---|---|")
    for (const p of profile.profile) console.log(`| ${p.part} | ${p.ms.toFixed(0)} | ${((100 * p.ms) / total).toFixed(1)} % | ${p.kernels > 0 ? p.kernels : ""} |`)
    console.log(`\nThe training step (everything but data and augmentation) took ${fmt(total)} of wall time; ${profile.note ?? ""}`)
  }
}
