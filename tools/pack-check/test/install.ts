/**
 * Packs a workspace package with `npm pack` and installs the tarball in an empty folder outside the
 * repository, next to only the given registry packages, as a user of that one package would.
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

export const repo = fileURLToPath(new URL("../../..", import.meta.url))

export const tfjsVersion = (JSON.parse(readFileSync(join(repo, "node_modules", "@tensorflow", "tfjs-core", "package.json"), "utf8")) as { version: string }).version

export const run = (cmd: string, args: Array<string>, cwd: string): string =>
  execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, npm_config_loglevel: "error" } })

export interface Installed {
  /** The folder holding package.json and node_modules. */
  readonly app: string
  /** Paths inside the tarball. */
  readonly files: ReadonlyArray<string>
  /** Runs an ES module script in the app folder and returns its stdout. */
  readonly runScript: (source: string) => string
  readonly cleanup: () => void
}

const packageDir = (name: string): string => join(repo, "packages", name.replace(/^@simclr\//, ""))

/** The workspace packages `name` depends on (optionally too), directly or through each other (`@simclr/core` for all). */
export const workspaceDependencies = (name: string): Array<string> => {
  const found = new Set<string>()
  const visit = (pkg: string): void => {
    const manifest = JSON.parse(readFileSync(join(packageDir(pkg), "package.json"), "utf8")) as {
      dependencies?: Record<string, string>
      optionalDependencies?: Record<string, string>
    }
    for (const dep of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) {
      if ((dep.startsWith("@simclr/") || dep === "simclr") && !found.has(dep)) {
        found.add(dep)
        visit(dep)
      }
    }
  }
  visit(name)
  return [...found].toSorted()
}

/**
 * The workspace packages the package depends on (see {@link workspaceDependencies}) are not on the
 * registry yet, so they are packed too and installed from their tarballs alongside.
 */
export const packAndInstall = (packageName: string, registryPackages: ReadonlyArray<string>): Installed => {
  const work = mkdtempSync(join(tmpdir(), `simclr-${packageName.replace(/\W/g, "-")}-`))
  const pack = (name: string) =>
    (JSON.parse(run("npm", ["pack", "--json", "--pack-destination", work], packageDir(name))) as Array<{
      filename: string
      files: Array<{ path: string }>
    }>)[0]!
  const packed = [pack(packageName)]
  const locals = workspaceDependencies(packageName).map((name) => join(work, pack(name).filename))
  const app = join(work, "app")
  mkdirSync(app)
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }))
  run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", join(work, packed[0]!.filename), ...locals, ...registryPackages], app)
  return {
    app,
    files: packed[0]!.files.map((f) => f.path),
    runScript: (source) => {
      writeFileSync(join(app, "main.js"), source)
      return run("node", ["main.js"], app)
    },
    cleanup: () => rmSync(work, { recursive: true, force: true })
  }
}

/**
 * The checks every published tensor package must pass when installed alone next to tfjs-core and the
 * cpu backend, plus `usage` (tests that use the installed package through `installed()`). `allowed`
 * lists the workspace packages it may bring along (`@simclr/core` alone unless it builds on others).
 */
export const describeStandalone = (
  packageName: string,
  usage: (installed: () => Installed) => void,
  peers: ReadonlyArray<string> = ["@tensorflow/tfjs-core"],
  allowed: ReadonlyArray<string> = ["@simclr/core"]
): void => {
  describe(`${packageName} installed alone`, () => {
    let installed: Installed | undefined
    beforeAll(() => {
      const tfjs = [...new Set([...peers, "@tensorflow/tfjs-backend-cpu"])].map((p) => `${p}@${tfjsVersion}`)
      installed = packAndInstall(packageName, tfjs)
    })
    afterAll(() => installed?.cleanup())
    const get = (): Installed => {
      if (installed === undefined) throw new Error("the package was not installed")
      return installed
    }

    it("packs the built code, its types and the README, and no tests", () => {
      const { files } = get()
      expect(files).toContain("dist/index.js")
      expect(files).toContain("dist/index.d.ts")
      expect(files).toContain("README.md")
      expect(files.filter((f) => f.startsWith("test/") || f.endsWith(".tsbuildinfo"))).toEqual([])
    })

    it(`installs without effect or any @simclr package but ${allowed.join(", ")}; its peers are ${peers.join(", ")}`, () => {
      const modules = join(get().app, "node_modules")
      const short = packageName.replace(/^@simclr\//, "")
      expect(existsSync(join(modules, "effect"))).toBe(false)
      // Its own folder and its workspace dependencies (@simclr/core for the packages that validate arguments), nothing else.
      const locals = workspaceDependencies(packageName)
      expect(locals.every((d) => allowed.includes(d))).toBe(true)
      expect(readdirSync(join(modules, "@simclr")).toSorted()).toEqual([short, ...locals.map((d) => d.replace(/^@simclr\//, ""))].toSorted())
      const manifest = JSON.parse(readFileSync(join(modules, "@simclr", short, "package.json"), "utf8")) as Record<string, unknown>
      expect(Object.keys((manifest["dependencies"] ?? {}) as object)).toEqual(locals)
      expect(Object.keys(manifest["peerDependencies"] as object).toSorted()).toEqual([...peers].toSorted())
    })

    usage(get)
  })
}
