/**
 * @simclr/core packed and installed alone next to tfjs-core: the errors and the generator work from the
 * tarball.
 */
import { expect, it } from "vitest"
import { describeStandalone } from "./install.ts"
import { Random } from "@simclr/core"

describeStandalone("@simclr/core", (installed) => {
  it("throws named errors and draws the same numbers as the workspace copy", () => {
    const out = installed().runScript(`import { InvalidArgumentError, Random, SimclrError, knownKeys } from "@simclr/core"
let error
try { knownKeys("options", { sise: 1 }, ["size"]) } catch (e) { error = e }
const r = new Random(7, 2)
console.log(JSON.stringify({ argument: error.argument, isInstance: SimclrError.isInstance(error), named: error instanceof InvalidArgumentError, draws: [r.nextUint32(), r.nextUint32(), r.int(1000)] }))
`)
    const result = JSON.parse(out.trim().split("\n").at(-1)!) as { argument: string; isInstance: boolean; named: boolean; draws: Array<number> }
    const r = new Random(7, 2)
    expect(result).toEqual({ argument: "options.sise", isInstance: true, named: true, draws: [r.nextUint32(), r.nextUint32(), r.int(1000)] })
  })
})
