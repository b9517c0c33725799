/**
 * The "I want native CPU training speed in my own tfjs code" user: @simclr/backend-onednn packed and
 * installed alone next to tfjs-core and the cpu backend. Where oneDNN's headers are installed (CI
 * installs libdnnl-dev), npm's install builds the addon in the user's folder and a convolution runs on
 * it; with the build made impossible (SIMCLR_SKIP_ONEDNN_BUILD=1, as on a machine without oneDNN), the
 * install still succeeds and the package says why the backend is unavailable.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Installed, packAndInstall, tfjsVersion } from "./install.ts"

const HEADERS = "/usr/include/oneapi/dnnl/dnnl.hpp"
const required = process.env["SIMCLR_REQUIRE_ONEDNN"] === "1"
const peers = [`@tensorflow/tfjs-core@${tfjsVersion}`, `@tensorflow/tfjs-backend-cpu@${tfjsVersion}`]

/** Installs with SIMCLR_SKIP_ONEDNN_BUILD set or not (npm passes the environment to install scripts). */
const install = (skipBuild: boolean): Installed => {
  const before = process.env["SIMCLR_SKIP_ONEDNN_BUILD"]
  if (skipBuild) process.env["SIMCLR_SKIP_ONEDNN_BUILD"] = "1"
  else delete process.env["SIMCLR_SKIP_ONEDNN_BUILD"]
  try {
    return packAndInstall("@simclr/backend-onednn", peers)
  } finally {
    if (before === undefined) delete process.env["SIMCLR_SKIP_ONEDNN_BUILD"]
    else process.env["SIMCLR_SKIP_ONEDNN_BUILD"] = before
  }
}

const STATUS = `import { onednnStatus, registerOnednnBackend } from "@simclr/backend-onednn"
const status = onednnStatus()
let error = null
try { registerOnednnBackend() } catch (e) { error = { name: e.name, message: e.message } }
console.log(JSON.stringify({ status, error }))
`

describe.skipIf(!existsSync(HEADERS) && !required)("@simclr/backend-onednn installed alone, with oneDNN's headers", () => {
  let installed: Installed | undefined
  beforeAll(() => {
    installed = install(false)
  })
  afterAll(() => installed?.cleanup())
  const get = (): Installed => {
    if (installed === undefined) throw new Error("the package was not installed")
    return installed
  }

  it("packs the built code, the addon's sources and the README, and no tests or build output; depends on node-addon-api only", () => {
    const { files, app } = get()
    for (const f of ["dist/index.js", "dist/index.d.ts", "README.md", "binding.gyp", "native/onednn.cc", "scripts/build-addon.mjs"]) expect(files).toContain(f)
    expect(files.filter((f) => f.startsWith("test/") || f.startsWith("build/") || f.endsWith(".tsbuildinfo"))).toEqual([])
    const modules = join(app, "node_modules")
    expect(existsSync(join(modules, "effect"))).toBe(false)
    expect(readdirSync(join(modules, "@simclr"))).toEqual(["backend-onednn"])
    const manifest = JSON.parse(readFileSync(join(modules, "@simclr", "backend-onednn", "package.json"), "utf8")) as Record<string, Record<string, string>>
    expect(Object.keys(manifest["dependencies"]!)).toEqual(["node-addon-api"])
    expect(Object.keys(manifest["peerDependencies"]!).toSorted()).toEqual(["@tensorflow/tfjs-backend-cpu", "@tensorflow/tfjs-core"])
  })

  it("builds the addon at install; a convolution and its gradient on onednn equal the cpu backend's", () => {
    const out = get().runScript(`import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import { onednnStatus, registerOnednnBackend } from "@simclr/backend-onednn"
const status = onednnStatus()
const registered = registerOnednnBackend()
const x = tf.tensor4d(Array.from({ length: 2 * 6 * 6 * 3 }, (_, i) => Math.sin(i)), [2, 6, 6, 3])
const w = tf.tensor4d(Array.from({ length: 3 * 3 * 3 * 4 }, (_, i) => Math.cos(i)), [3, 3, 3, 4])
const run = async (backend) => {
  await tf.setBackend(backend)
  const y = tf.conv2d(x, w, 1, "same")
  const dw = tf.engine().runKernel("Conv2DBackpropFilter", { x, dy: y }, { strides: 1, pad: "same", dataFormat: "NHWC", filterShape: [3, 3, 3, 4] })
  return [Array.from(y.dataSync()), Array.from(dw.dataSync())]
}
const cpu = await run("cpu")
const onednn = await run("onednn")
console.log(JSON.stringify({ status, kernels: registered.kernels.length, cpu, onednn }))
`)
    const r = JSON.parse(out.trim().split("\n").at(-1)!) as { status: { available: boolean; version: string }; kernels: number; cpu: Array<Array<number>>; onednn: Array<Array<number>> }
    expect(r.status.available).toBe(true)
    expect(r.status.version).toMatch(/^\d+\.\d+\.\d+$/)
    expect(r.kernels).toBeGreaterThan(40)
    r.cpu.forEach((ref, k) => {
      const scale = Math.max(...ref.map(Math.abs))
      expect(r.onednn[k]!.length).toBe(ref.length)
      ref.forEach((v, i) => expect(Math.abs(r.onednn[k]![i]! - v)).toBeLessThanOrEqual(1e-4 * Math.abs(v) + 1e-5 * scale))
    })
  })
})

describe("@simclr/backend-onednn installed alone, where the addon cannot build", () => {
  let installed: Installed | undefined
  beforeAll(() => {
    installed = install(true)
  })
  afterAll(() => installed?.cleanup())

  it("the install succeeds; the package reports the one-line reason and registering throws it", () => {
    const out = installed!.runScript(STATUS)
    const r = JSON.parse(out.trim().split("\n").at(-1)!) as { status: { available: boolean; reason: string }; error: { name: string; message: string } | null }
    expect(r.status).toEqual({ available: false, reason: "SIMCLR_SKIP_ONEDNN_BUILD=1" })
    expect(r.error).toEqual({ name: "OnednnUnavailableError", message: "@simclr/backend-onednn is unavailable: SIMCLR_SKIP_ONEDNN_BUILD=1" })
  })
})
