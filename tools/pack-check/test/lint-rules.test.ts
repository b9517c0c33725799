/**
 * The lint rule that keeps Effect out of the tensor packages really fires: the repository's own oxlint
 * configuration, run on probe files laid out like the repository, rejects `effect` imports (static,
 * sub-path and dynamic) in `core`, `augment`, `encoders`, `heads`, `losses`, `memory-queue` and `distill`, and
 * allows them in `data-stream` and `simclr`.
 */
import { execFileSync } from "node:child_process"
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, expect, it } from "vitest"
import { repo } from "./install.ts"

const pure = ["core", "augment", "encoders", "heads", "losses", "memory-queue", "distill"]
const effectful = ["data-stream", "simclr"]
const probe = `import { Effect } from "effect"
import * as Schema from "effect/Schema"
export const a = Effect.succeed(1)
export const b = Schema.String
export const c = () => import("effect")
`

const dir = mkdtempSync(join(tmpdir(), "simclr-lint-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** oxlint's report on the probe files, with its exit status. */
const lint = (): { status: number; output: string } => {
  copyFileSync(join(repo, ".oxlintrc.json"), join(dir, ".oxlintrc.json"))
  for (const p of [...pure, ...effectful]) {
    mkdirSync(join(dir, "packages", p, "src"), { recursive: true })
    writeFileSync(join(dir, "packages", p, "src", "probe.ts"), probe)
  }
  try {
    const output = execFileSync(join(repo, "node_modules", ".bin", "oxlint"), ["--format", "unix", "packages"], { cwd: dir, encoding: "utf8" })
    return { status: 0, output }
  } catch (e) {
    const err = e as { status: number; stdout: string }
    return { status: err.status, output: err.stdout }
  }
}

it("no-restricted-imports rejects effect in every tensor package and allows it in data-stream and simclr", () => {
  const { status, output } = lint()
  expect(status).not.toBe(0)
  // One unix-format line per finding: "path:line:col: message [Error/eslint(no-restricted-imports)]".
  const flagged = (p: string) =>
    output
      .split("\n")
      .filter((line) => line.startsWith(`packages/${p}/src/probe.ts:`) && line.includes("no-restricted-imports"))
      .map((line) => line.split(":")[1])
  for (const p of pure) expect({ p, lines: flagged(p) }).toEqual({ p, lines: ["1", "2", "5"] })
  for (const p of effectful) expect({ p, lines: flagged(p) }).toEqual({ p, lines: [] })
})
