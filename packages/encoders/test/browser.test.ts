/**
 * A real browser: headless Chromium (Debian's `chromium`, driven by playwright-core) loads a model saved
 * by saveModel with stock TF.js (the union package's self-contained ESM build) plus this package's
 * layer registrations, runs it on a fixed input, and must match Node's output to 1e-4 × max|ref|.
 * Skipped, saying so, where /usr/bin/chromium is not installed (.ci/run installs it).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer, type Server } from "node:http"
import { tmpdir } from "node:os"
import { extname, join, normalize } from "node:path"
import { fileURLToPath } from "node:url"
import * as tf from "@tensorflow/tfjs-core"
import { randomUniform, useLeakCheck } from "@simclr/test-utils"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { resnet, saveModel } from "../src/index.ts"

const CHROMIUM = "/usr/bin/chromium"
const hasChromium = existsSync(CHROMIUM)
const repo = fileURLToPath(new URL("../../..", import.meta.url))

describe.skipIf(!hasChromium)(`the saved encoder in headless Chromium${hasChromium ? "" : " (skipped: /usr/bin/chromium is not installed; apt-get install chromium)"}`, () => {
  useLeakCheck()
  const work = mkdtempSync(join(tmpdir(), "simclr-browser-"))
  let server: Server
  let origin = ""

  beforeAll(async () => {
    const routes: Record<string, string> = {
      "/tfjs.js": join(repo, "node_modules/@tensorflow/tfjs/dist/tf.fesm.js"),
      "/index.html": ""
    }
    server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://localhost")
      let file: string | undefined = routes[url.pathname]
      if (url.pathname.startsWith("/encoders/")) file = join(repo, "packages/encoders/dist", normalize(url.pathname.slice("/encoders/".length)))
      if (url.pathname.startsWith("/core/")) file = join(repo, "packages/core/dist", normalize(url.pathname.slice("/core/".length)))
      if (url.pathname.startsWith("/model/")) file = join(work, "model", normalize(url.pathname.slice("/model/".length)))
      if (url.pathname === "/index.html") {
        res.writeHead(200, { "content-type": "text/html" })
        res.end(`<!doctype html><script type="importmap">{"imports":{"@tensorflow/tfjs-core":"/tfjs.js","@tensorflow/tfjs-layers":"/tfjs.js","@simclr/core":"/core/index.js"}}</script>`)
        return
      }
      if (file === undefined || !existsSync(file)) {
        res.writeHead(404)
        res.end()
        return
      }
      const type = extname(file) === ".js" ? "text/javascript" : extname(file) === ".json" ? "application/json" : "application/octet-stream"
      res.writeHead(200, { "content-type": type })
      res.end(readFileSync(file))
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const address = server.address()
    origin = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`
  })

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve))
    rmSync(work, { recursive: true, force: true })
  })

  it("loads the model with stock TF.js and matches Node's features to 1e-4 × max|ref|", { timeout: 180_000 }, async () => {
    const model = resnet({ depth: 50, baseWidth: 8, skRatio: 0.0625, seRatio: 0.25, seed: 5 })
    await saveModel(model, join(work, "model"))
    const x = randomUniform([2, 20, 20, 3], 6)
    const input = Array.from(x.dataSync())
    const reference = tf.tidy(() => Array.from((model.predict(x) as tf.Tensor).dataSync()))
    tf.dispose(x)
    model.dispose()

    const { chromium } = await import("playwright-core")
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    })
    try {
      const page = await browser.newPage()
      const errors: Array<string> = []
      page.on("pageerror", (e) => errors.push(e.message))
      await page.goto(`${origin}/index.html`)
      // A source string, not a function: vitest rewrites dynamic imports inside test functions.
      const script = `(async () => {
        const tfb = await import("/tfjs.js")
        await import("/encoders/index.js")
        await tfb.setBackend("cpu")
        const loaded = await tfb.loadLayersModel("/model/model.json")
        const out = loaded.predict(tfb.tensor(${JSON.stringify(input)}, [2, 20, 20, 3]))
        return { features: Array.from(await out.data()), backend: tfb.getBackend() }
      })()`
      const features = (await page.evaluate(script)) as { features: Array<number>; backend: string }
      expect(errors).toEqual([])
      expect(features.backend).toBe("cpu")
      const scale = Math.max(...reference.map(Math.abs))
      expect(features.features).toBeAllclose(reference, { rtol: 0, atol: 1e-4 * scale })
    } finally {
      await browser.close()
    }
  })
})
