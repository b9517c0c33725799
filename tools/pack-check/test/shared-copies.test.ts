/**
 * Each tensor package installs alone, so the few shared helpers are copied into each package rather than
 * imported from a common dependency. This keeps the copies identical: edit packages/losses, then run
 * `npm run sync-shared`.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { expect, it } from "vitest"
import { repo } from "./install.ts"

const packages = readdirSync(join(repo, "packages"))
const copies = (file: string) =>
  packages.flatMap((p) => {
    try {
      return [{ pkg: p, text: readFileSync(join(repo, "packages", p, "src", file), "utf8") }]
    } catch {
      return []
    }
  })

for (const [file, atLeast] of [["SimclrError.ts", 4], ["internal/validate.ts", 4], ["internal/Random.ts", 2]] as const) {
  it(`${file} is identical in every package that has it`, () => {
    const all = copies(file)
    expect(all.length).toBeGreaterThanOrEqual(atLeast)
    for (const c of all) expect({ pkg: c.pkg, text: c.text }).toEqual({ pkg: c.pkg, text: all[0]!.text })
  })
}
