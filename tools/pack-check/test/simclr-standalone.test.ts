/**
 * The "npx simclr" user: the `simclr` package packed and installed in an empty folder next to
 * `@tensorflow/tfjs` (its peer; the other @simclr packages are packed alongside, as they are not on the
 * registry yet). The installed command pre-trains a tiny model on synthetic images for a few steps on
 * the cpu backend, resumes, evaluates and exports — nothing from the repository is on its path.
 */
import { execFileSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Installed, packAndInstall, tfjsVersion } from "./install.ts"

const LOCAL = ["@simclr/core", "@simclr/losses", "@simclr/augment", "@simclr/encoders", "@simclr/heads", "@simclr/memory-queue", "@simclr/distill", "@simclr/data-stream", "@simclr/wasm-kernels", "@simclr/backend-onednn"]

describe("simclr installed alone", () => {
  let installed: Installed | undefined
  beforeAll(() => {
    installed = packAndInstall("simclr", [`@tensorflow/tfjs@${tfjsVersion}`])
  })
  afterAll(() => installed?.cleanup())
  const get = (): Installed => {
    if (installed === undefined) throw new Error("the package was not installed")
    return installed
  }
  const simclr = (args: Array<string>) =>
    execFileSync(join(get().app, "node_modules", ".bin", "simclr"), args, { cwd: get().app, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })

  it("packs the built code with its bin, types and README, and no tests; peers are tfjs and the optional native backends", () => {
    const { files, app } = get()
    for (const f of ["bin/simclr.js", "dist/index.js", "dist/index.d.ts", "dist/cli.js", "README.md"]) expect(files).toContain(f)
    expect(files.filter((f) => f.startsWith("test/") || f.endsWith(".tsbuildinfo"))).toEqual([])
    const manifest = JSON.parse(readFileSync(join(app, "node_modules", "simclr", "package.json"), "utf8")) as {
      bin: Record<string, string>
      peerDependencies: Record<string, string>
      peerDependenciesMeta: Record<string, { optional?: boolean }>
    }
    expect(manifest.bin).toEqual({ simclr: "./bin/simclr.js" })
    expect(Object.entries(manifest.peerDependenciesMeta).filter(([, m]) => m.optional === true).map(([name]) => name).toSorted()).toEqual([
      "@tensorflow/tfjs-node",
      "@tensorflow/tfjs-node-gpu"
    ])
    expect(readdirSync(join(app, "node_modules", "@simclr")).toSorted()).toEqual(LOCAL.map((p) => p.slice(8)).toSorted())
  })

  it("npx simclr: pretrain a few steps, stop, resume, linear-eval and export, on the cpu backend", () => {
    const common = ["--data", "synthetic:32", "--out", "runs/tiny", "--image-size", "8", "--batch-size", "8", "--epochs", "1", "--backend", "cpu"]
    simclr(["pretrain", ...common, "--max-steps", "2"])
    const resumed = simclr(["pretrain", ...common])
    expect(resumed).toMatch(/completed: 4 steps/)
    const metrics = readFileSync(join(get().app, "runs", "tiny", "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number; loss: number })
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3, 4])
    expect(metrics.every((m) => Number.isFinite(m.loss))).toBe(true)
    const evaluated = simclr(["linear-eval", "--run", "runs/tiny", "--train", "synthetic:40", "--test", "synthetic:20", "--epochs", "2", "--backend", "cpu"])
    expect(evaluated).toMatch(/linear-eval-h: top-1 [\d.]+ %, top-5 [\d.]+ % on 20 images/)
    simclr(["export", "--run", "runs/tiny", "--out", "web", "--backend", "cpu"])
    expect(existsSync(join(get().app, "web", "model.json"))).toBe(true)
  })
})
