/**
 * The "I only want the loss" user: `npm pack` @simclr/losses, install the tarball in an empty folder
 * outside the repository together with only @tensorflow/tfjs-core and the cpu backend, and train a
 * step with it. Nothing else may be needed, `effect` must not be installed, and the loss must equal
 * the PyTorch fixture.
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const repo = fileURLToPath(new URL("../../..", import.meta.url))
const packageDir = join(repo, "packages", "losses")
const fixtures = JSON.parse(readFileSync(join(packageDir, "test", "fixtures", "losses.json"), "utf8")) as {
  ntXent: Array<{ name: string; z1: Array<Array<number>>; z2: Array<Array<number>>; temperature: number; loss: number; grad_z1: Array<Array<number>> }>
}
const tfjsVersion = (JSON.parse(readFileSync(join(repo, "node_modules", "@tensorflow", "tfjs-core", "package.json"), "utf8")) as { version: string }).version

const run = (cmd: string, args: Array<string>, cwd: string): string =>
  execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, npm_config_loglevel: "error" } })

describe("@simclr/losses installed alone", () => {
  let work = ""
  let tarball = ""
  let files: Array<string> = []

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "simclr-losses-standalone-"))
    const packed = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", work], packageDir)) as Array<{
      filename: string
      files: Array<{ path: string }>
    }>
    tarball = join(work, packed[0]!.filename)
    files = packed[0]!.files.map((f) => f.path)
    const app = join(work, "app")
    run("mkdir", ["-p", app], work)
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }))
    run(
      "npm",
      ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball, `@tensorflow/tfjs-core@${tfjsVersion}`, `@tensorflow/tfjs-backend-cpu@${tfjsVersion}`],
      app
    )
  })

  afterAll(() => {
    if (work !== "") rmSync(work, { recursive: true, force: true })
  })

  it("packs the built code, its types and the README, and no tests", () => {
    expect(files).toContain("dist/index.js")
    expect(files).toContain("dist/index.d.ts")
    expect(files).toContain("README.md")
    expect(files.filter((f) => f.startsWith("test/") || f.endsWith(".tsbuildinfo"))).toEqual([])
  })

  it("installs without effect or any other @simclr package", () => {
    const modules = join(work, "app", "node_modules")
    expect(existsSync(join(modules, "effect"))).toBe(false)
    expect(readdirSync(join(modules, "@simclr"))).toEqual(["losses"])
    const manifest = JSON.parse(readFileSync(join(modules, "@simclr", "losses", "package.json"), "utf8")) as Record<string, unknown>
    expect(manifest["dependencies"]).toBeUndefined()
    expect(Object.keys(manifest["peerDependencies"] as object)).toEqual(["@tensorflow/tfjs-core"])
  })

  it("computes the loss and its gradient with tfjs-core and the cpu backend only", () => {
    const c = fixtures.ntXent.find((f) => f.name === "basic-mean")!
    writeFileSync(
      join(work, "app", "main.js"),
      `import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import { ntXent, ntXentMetrics } from "@simclr/losses"
await tf.setBackend("cpu")
const z1 = tf.tensor2d(${JSON.stringify(c.z1)})
const z2 = tf.tensor2d(${JSON.stringify(c.z2)})
const { value, grads } = tf.valueAndGrads((a, b) => ntXent(a, b, { temperature: ${c.temperature} }))([z1, z2])
const { accuracy } = ntXentMetrics(z1, z2, { temperature: ${c.temperature} })
console.log(JSON.stringify({ loss: value.dataSync()[0], grad: Array.from(grads[0].dataSync()), accuracy: accuracy.dataSync()[0] }))
`
    )
    const out = run("node", ["main.js"], join(work, "app"))
    const result = JSON.parse(out.trim().split("\n").at(-1)!) as { loss: number; grad: Array<number> }
    expect(Math.abs(result.loss - c.loss)).toBeLessThan(1e-5 * c.loss)
    const ref = c.grad_z1.flat()
    const scale = Math.max(...ref.map(Math.abs))
    result.grad.forEach((g, i) => expect(Math.abs(g - ref[i]!)).toBeLessThan(1e-5 * scale))
  })
})
