#!/usr/bin/env node
// Builds the oneDNN addon at install time. Optional by design: when oneDNN's headers, a C++ compiler or
// node-gyp are missing, it writes the reason to build/UNAVAILABLE and exits 0, so `npm install` never
// fails because of it; the backend then reports that reason (and `backend: "auto"` skips it).
//
// `--sanitize=address` instead builds build/Debug/simclr_onednn.node with AddressSanitizer, for
// `npm run test:asan` (loaded through SIMCLR_ONEDNN_ADDON); it leaves the release build alone and fails
// loudly (exit 1) when it cannot build.
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const sanitizer = process.argv.slice(2).find((a) => a.startsWith("--sanitize="))?.slice("--sanitize=".length)
if (sanitizer !== undefined && sanitizer !== "address") {
  console.error(`build-addon: --sanitize=${sanitizer} is not supported (allowed: address)`)
  process.exit(1)
}
const marker = join(root, "build", "UNAVAILABLE")
const unavailable = (reason) => {
  if (sanitizer !== undefined) {
    console.error(`build-addon: the AddressSanitizer build failed: ${reason}`)
    process.exit(1)
  }
  mkdirSync(join(root, "build"), { recursive: true })
  writeFileSync(marker, `${reason}\n`)
  console.warn(`@simclr/backend-onednn: the native addon was not built (${reason}); the oneDNN backend is unavailable, everything else works.`)
  process.exit(0)
}

if (process.env.SIMCLR_SKIP_ONEDNN_BUILD === "1") unavailable("SIMCLR_SKIP_ONEDNN_BUILD=1")
const header = ["/usr/include/oneapi/dnnl/dnnl.hpp", "/usr/local/include/oneapi/dnnl/dnnl.hpp"].find((p) => existsSync(p))
  ?? (process.env.CPATH ?? "").split(":").filter(Boolean).map((p) => join(p, "oneapi/dnnl/dnnl.hpp")).find((p) => existsSync(p))
if (header === undefined) unavailable("oneDNN headers not found (Debian/Ubuntu: apt-get install libdnnl-dev; elsewhere see the README)")

// npm runs install scripts with its own node-gyp in npm_config_node_gyp; a local node-gyp also works.
let gyp = process.env.npm_config_node_gyp
if (gyp === undefined || !existsSync(gyp)) {
  try {
    gyp = createRequire(import.meta.url).resolve("node-gyp/bin/node-gyp.js")
  } catch {
    unavailable("node-gyp not found (run the install through npm, or npm install -g node-gyp)")
  }
}
if (sanitizer !== undefined) {
  // configure + build (not rebuild, which would delete the release build) of the Debug configuration,
  // with the sanitizer's compile and link flags (gyp's Makefiles add CXXFLAGS and LDFLAGS).
  const flags = "-fsanitize=address -fno-omit-frame-pointer -g -O1"
  const env = { ...process.env, CXXFLAGS: flags, LDFLAGS: "-fsanitize=address" }
  for (const step of [["configure", "--debug"], ["build", "--debug"]]) {
    const r = spawnSync(process.execPath, [gyp, ...step], { cwd: root, stdio: "inherit", env })
    if (r.status !== 0) unavailable(`node-gyp ${step.join(" ")}: exit code ${r.status}`)
  }
  console.log("@simclr/backend-onednn: built build/Debug/simclr_onednn.node with AddressSanitizer")
  process.exit(0)
}
rmSync(marker, { force: true })
const r = spawnSync(process.execPath, [gyp, "rebuild", "--release"], { cwd: root, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" })
if (r.status !== 0) {
  const lines = `${r.stdout}\n${r.stderr}`.split("\n").filter((l) => /error/i.test(l))
  unavailable(`node-gyp rebuild failed: ${(lines[0] ?? `exit code ${r.status}`).trim()}`)
}
console.log("@simclr/backend-onednn: built the oneDNN addon (build/Release/simclr_onednn.node)")
