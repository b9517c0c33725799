/**
 * Truncated, corrupted and hostile checkpoint files, through the command a user runs: each case damages
 * the checkpoint of a real run folder (made by `simclr pretrain`) in its own sandbox, then resumes it
 * with `simclr pretrain` (a few also with `simclr export`, which loads the run). Each must end with a
 * named error: `simclr: checkpoint <folder>: <file>: <what is wrong>` and exit code 1, no crash; and it
 * must write nothing at all, inside the run folder or around it (the whole sandbox is compared before
 * and after, byte for byte), nor execute anything the files hold. The hostile manifests are written with
 * valid checksums (the test's own writer of the documented format), so the field checks are what stops
 * them. A few hostile-but-harmless cases must resume and train, still writing only inside the run folder.
 */
import { type SeededRandom, seededRandom } from "@simclr/test-utils"
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { crc32 } from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runSimclr, snapshot, tinyRecipe } from "./support.ts"

const root = mkdtempSync(join(tmpdir(), "simclr-hostile-ckpt-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const config = { ...tinyRecipe, epochs: 2, checkpointEvery: 1, keepCheckpoints: 2 }
const configPath = join(root, "tiny.json")
writeFileSync(configPath, JSON.stringify(config))
/** `--max-steps 2` is the run's own: resuming it reads and restores the checkpoint, then has nothing to do. */
const pretrainArgs = (run: string, maxSteps = 2) => ["pretrain", "--config", configPath, "--data", "synthetic:32", "--out", run, "--backend", "cpu", "--max-steps", String(maxSteps)]
const base = join(root, "base")

beforeAll(async () => {
  const made = await runSimclr(pretrainArgs(base), { cwd: root })
  const checkpoints = made.code === 0 ? readdirSync(join(base, "checkpoints")).toSorted().join(" ") : ""
  if (checkpoints !== "step-00000001 step-00000002") throw new Error(`the base run did not end with checkpoints at steps 1 and 2 (exit ${made.code}, ${checkpoints}): ${made.stderr}`)
})

// ---- the test's own reader and writer of the checkpoint format (see packages/simclr/src/checkpoint.ts) ----

interface Stored {
  readonly manifest: Record<string, unknown>
  readonly tensors: Array<{ name: string; shape: Array<number>; dtype: string; data: Uint8Array }>
}

const readStored = (dir: string): Stored => {
  const manifest = JSON.parse(readFileSync(join(dir, "checkpoint.json"), "utf8")) as Record<string, unknown>
  const bin = readFileSync(join(dir, "tensors.bin"))
  const entries = manifest["tensors"] as Array<{ name: string; shape: Array<number>; dtype: string; offset: number }>
  const tensors = entries.map((e) => ({ name: e.name, shape: e.shape, dtype: e.dtype, data: bin.subarray(e.offset, e.offset + 4 * e.shape.reduce((a, b) => a * b, 1)) }))
  delete manifest["manifestCrc32"]
  return { manifest, tensors }
}

/** The manifest's text as version 2 writes it: `,"manifestCrc32":N` before the last `}`, N the CRC32 of the rest. */
const manifestText = (manifest: unknown): string => {
  const body = JSON.stringify(manifest)
  return `${body.slice(0, -1)},"manifestCrc32":${crc32(body)}}`
}

/**
 * Writes `stored` back as a self-consistent checkpoint (tensors back to back, byte count and checksums
 * recomputed), after `edit` has changed the manifest, so only the manifest's meaning is wrong.
 */
const writeStored = (dir: string, { manifest, tensors }: Stored, edit: (manifest: Record<string, unknown>, table: Array<Record<string, unknown>>) => void = () => undefined): void => {
  let offset = 0
  const table = tensors.map((t) => {
    const entry = { name: t.name, shape: t.shape, dtype: t.dtype, offset }
    offset += t.data.byteLength
    return entry as Record<string, unknown>
  })
  const data = Buffer.concat(tensors.map((t) => t.data))
  const next: Record<string, unknown> = { ...manifest, version: 2, tensors: table, bytes: data.byteLength, crc32: crc32(data) }
  edit(next, table)
  writeFileSync(join(dir, "tensors.bin"), data)
  writeFileSync(join(dir, "checkpoint.json"), manifestText(next))
}

/** Rewrites the checkpoint in `dir` with the manifest edited (and valid checksums). */
const rewrite = (dir: string, edit: (manifest: Record<string, unknown>, table: Array<Record<string, unknown>>) => void) => writeStored(dir, readStored(dir), edit)

const flipByte = (path: string, random: SeededRandom, within: (bytes: Buffer) => [number, number] = (b) => [0, b.length]) => {
  const bytes = readFileSync(path)
  const [from, to] = within(bytes)
  bytes[from + Math.floor(random.uniform() * (to - from))]! ^= 1 << Math.floor(random.uniform() * 8)
  writeFileSync(path, bytes)
}

const cut = (path: string, keep: (length: number) => number) => {
  const bytes = readFileSync(path)
  writeFileSync(path, bytes.subarray(0, keep(bytes.length)))
}

// ---- the cases ----

interface Place {
  /** The sandbox's run folder, its newest checkpoint folder, and a folder beside the run. */
  readonly run: string
  readonly checkpoint: string
  readonly outside: string
  readonly random: SeededRandom
}

interface Case {
  readonly name: string
  readonly damage: (p: Place) => void
  /** The reason, after `<file>: ` (the checkpoint's folder is checked separately). */
  readonly reason: RegExp
  /** Also load the run with `simclr export` (loadRun), which must fail the same way. */
  readonly viaExport?: true
}

const first = "model/conv1/kernel"
const truncated: ReadonlyArray<Case> = [
  { name: "tensors.bin cut in half", damage: (p) => cut(join(p.checkpoint, "tensors.bin"), (n) => n >> 1), reason: /tensors\.bin has \d+ bytes, the manifest says \d+: truncated/, viaExport: true },
  { name: "tensors.bin empty", damage: (p) => cut(join(p.checkpoint, "tensors.bin"), () => 0), reason: /tensors\.bin has 0 bytes, the manifest says \d+: truncated/ },
  { name: "checkpoint.json cut in half", damage: (p) => cut(join(p.checkpoint, "checkpoint.json"), (n) => n >> 1), reason: /checkpoint\.json: not JSON \(.+\): truncated or damaged/ },
  { name: "checkpoint.json empty", damage: (p) => cut(join(p.checkpoint, "checkpoint.json"), () => 0), reason: /checkpoint\.json: not JSON \(.+\): truncated or damaged/ },
  { name: "tensors.bin missing", damage: (p) => unlinkSync(join(p.checkpoint, "tensors.bin")), reason: /tensors\.bin: cannot read it \(ENOENT\)/ },
  { name: "checkpoint.json missing", damage: (p) => unlinkSync(join(p.checkpoint, "checkpoint.json")), reason: /checkpoint\.json: cannot read it \(ENOENT\)/ }
]

const corrupted: ReadonlyArray<Case> = [
  { name: "one seeded bit of tensors.bin flipped", damage: (p) => flipByte(join(p.checkpoint, "tensors.bin"), p.random), reason: /tensors\.bin fails its checksum: damaged/ },
  {
    name: "a digit of the data position in checkpoint.json changed (still valid JSON)",
    damage: (p) => {
      const path = join(p.checkpoint, "checkpoint.json")
      writeFileSync(path, readFileSync(path, "utf8").replace(/"index":(\d+)/, (_m, d: string) => `"index":${Number(d) + 8}`))
    },
    reason: /checkpoint\.json fails its checksum: damaged/,
    viaExport: true
  },
  {
    name: "one seeded bit of checkpoint.json flipped",
    damage: (p) => flipByte(join(p.checkpoint, "checkpoint.json"), p.random),
    reason: /checkpoint\.json(: not JSON \(.+\): truncated or damaged| fails its checksum: damaged|: no manifestCrc32 at its end|: format\/version is .*)/
  },
  {
    name: "checkpoint.json replaced by seeded random bytes",
    damage: (p) => writeFileSync(join(p.checkpoint, "checkpoint.json"), Uint8Array.from({ length: 4096 }, () => Math.floor(p.random.uniform() * 256))),
    reason: /checkpoint\.json: not JSON \(.+\): truncated or damaged/
  }
]

const hostile: ReadonlyArray<Case> = [
  {
    name: "a tensor 10⁹ × 10⁹ × 10⁹ values large",
    damage: (p) => rewrite(p.checkpoint, (_m, t) => void (t[0]!["shape"] = [1e9, 1e9, 1e9])),
    reason: new RegExp(`checkpoint\\.json: tensors\\[0\\]\\.shape \\(${first}\\) is \\[1000000000,1000000000,1000000000\\]; expected at most \\d+ values: the \\d+ bytes end first`),
    viaExport: true
  },
  { name: "a negative size", damage: (p) => rewrite(p.checkpoint, (_m, t) => void (t[0]!["shape"] = [-1, 3, 3, 4])), reason: new RegExp(`checkpoint\\.json: tensors\\[0\\]\\.shape \\(${first}\\) is \\[-1,3,3,4\\]; expected an array of integers ≥ 0`) },
  { name: "a fractional size", damage: (p) => rewrite(p.checkpoint, (_m, t) => void (t[0]!["shape"] = [1.5, 3, 3, 4])), reason: new RegExp(`checkpoint\\.json: tensors\\[0\\]\\.shape \\(${first}\\) is \\[1\\.5,3,3,4\\]; expected an array of integers ≥ 0`) },
  { name: "a size that is not an array", damage: (p) => rewrite(p.checkpoint, (_m, t) => void (t[0]!["shape"] = "108")), reason: /checkpoint\.json: tensors\[0\]\.shape \(model\/conv1\/kernel\) is "108"; expected an array of integers ≥ 0/ },
  { name: "two tensors on the same bytes", damage: (p) => rewrite(p.checkpoint, (_m, t) => void (t[1]!["offset"] = 0)), reason: /checkpoint\.json: tensors\[1\]\.offset \(model\/[^)]+\) is 0; expected \d+: tensors are stored back to back in table order/ },
  {
    name: "a byte count past the end of tensors.bin (the last tensor one value longer)",
    damage: (p) =>
      rewrite(p.checkpoint, (m, t) => {
        const last = t.at(-1)!
        last["shape"] = [(last["shape"] as Array<number>).reduce((a, b) => a * b, 1) + 1]
        m["bytes"] = (m["bytes"] as number) + 4
      }),
    reason: /tensors\.bin has \d+ bytes, the manifest says \d+: truncated/
  },
  { name: "dtype float64", damage: (p) => rewrite(p.checkpoint, (_m, t) => void (t[0]!["dtype"] = "float64")), reason: new RegExp(`checkpoint\\.json: tensors\\[0\\]\\.dtype \\(${first}\\) is "float64"; expected "float32" or "int32"`) },
  { name: "dtype __proto__", damage: (p) => rewrite(p.checkpoint, (_m, t) => void (t[0]!["dtype"] = "__proto__")), reason: /checkpoint\.json: tensors\[0\]\.dtype \(model\/conv1\/kernel\) is "__proto__"; expected "float32" or "int32"/ },
  { name: "a float32 weight stored as int32", damage: (p) => rewrite(p.checkpoint, (_m, t) => void (t[0]!["dtype"] = "int32")), reason: /conv1\/kernel is int32 in the checkpoint, float32 in the model/ },
  { name: "a weight renamed __proto__", damage: (p) => rewrite(p.checkpoint, (_m, t) => void (t[0]!["name"] = "model/__proto__")), reason: /does not fit the model: missing \["conv1\/kernel"\], unexpected \["__proto__"\]/ },
  {
    name: "a weight named like a path out of the run folder",
    damage: (p) => rewrite(p.checkpoint, (_m, t) => void (t[0]!["name"] = "model/../../outside/pwned")),
    reason: /does not fit the model: missing \["conv1\/kernel"\], unexpected \["\.\.\/\.\.\/outside\/pwned"\]/
  },
  { name: "a tensor that is neither a model weight nor a slot", damage: (p) => rewrite(p.checkpoint, (_m, t) => void (t[0]!["name"] = "conv1/kernel")), reason: /checkpoint\.json: tensors\[0\]\.name is "conv1\/kernel"; expected "model\/<weight>", "objective\/<name>" or "slot\/<one of \["momentum"\]>\/<weight>"/ },
  {
    name: "the optimizer slot renamed __proto__",
    damage: (p) =>
      rewrite(p.checkpoint, (m, t) => {
        m["optimizer"] = { ...(m["optimizer"] as object), slots: ["__proto__"] }
        for (const e of t) e["name"] = String(e["name"]).replace(/^slot\/momentum\//, "slot/__proto__/")
      }),
    reason: /its optimizer slots are \["__proto__"\]; this run's optimizer has \["momentum"\]/
  },
  {
    name: "an optimizer slot without one weight",
    damage: (p) => {
      const stored = readStored(p.checkpoint)
      writeStored(p.checkpoint, { ...stored, tensors: stored.tensors.filter((t) => t.name !== "slot/momentum/conv1/kernel") })
    },
    reason: /optimizer slot momentum does not fit the model: missing \["conv1\/kernel"\], unexpected \[\]/
  },
  { name: "a step other than the folder's", damage: (p) => rewrite(p.checkpoint, (m) => void (m["step"] = 99)), reason: /checkpoint\.json: step is 99; expected 2, the step in the folder's name/ },
  { name: "a step that is a path", damage: (p) => rewrite(p.checkpoint, (m) => void (m["step"] = "../../x")), reason: /checkpoint\.json: step is "\.\.\/\.\.\/x"; expected 2, the step in the folder's name/ },
  {
    name: "a data position at epoch −1",
    damage: (p) => rewrite(p.checkpoint, (m) => void (m["position"] = { epoch: -1, index: 0, seed: 3 })),
    reason: /checkpoint\.json: position is \{"epoch":-1,"index":0,"seed":3\}; expected null or \{ epoch, index, seed \} of integers, epoch and index ≥ 0/
  },
  { name: "another program's format", damage: (p) => rewrite(p.checkpoint, (m) => void (m["format"] = "pickle")), reason: /checkpoint\.json: format\/version is \["pickle",2\]; expected \["simclr-checkpoint", 1 or 2\]/ },
  { name: "a newer version", damage: (p) => rewrite(p.checkpoint, (m) => void (m["version"] = 3)), reason: /checkpoint\.json: format\/version is \["simclr-checkpoint",3\]; expected/ },
  { name: "a manifest that is null", damage: (p) => writeFileSync(join(p.checkpoint, "checkpoint.json"), "null"), reason: /checkpoint\.json: the manifest is null; expected a JSON object/ },
  {
    name: "version 2 without its manifest checksum",
    damage: (p) => {
      const path = join(p.checkpoint, "checkpoint.json")
      writeFileSync(path, readFileSync(path, "utf8").replace(/,"manifestCrc32":\d+\}$/, "}"))
    },
    reason: /checkpoint\.json: no manifestCrc32 at its end/
  },
  {
    name: "tensors.bin a link to /dev/zero (endless)",
    damage: (p) => {
      unlinkSync(join(p.checkpoint, "tensors.bin"))
      symlinkSync("/dev/zero", join(p.checkpoint, "tensors.bin"))
    },
    reason: /tensors\.bin: not a regular file/
  },
  {
    name: "checkpoint.json over 64 MiB (a sparse file: refused by its size, unread)",
    damage: (p) => truncateSync(join(p.checkpoint, "checkpoint.json"), 64 * 2 ** 20 + 1),
    reason: /checkpoint\.json: 67108865 bytes, more than the 67108864 a manifest may have/
  },
  {
    name: "checkpoint.json a folder",
    damage: (p) => {
      unlinkSync(join(p.checkpoint, "checkpoint.json"))
      mkdirSync(join(p.checkpoint, "checkpoint.json"))
    },
    reason: /checkpoint\.json: not a regular file/
  }
]

/** A sandbox: a copy of the base run (newest checkpoint only, unless `keepOlder`), a folder beside it with a file in it, an empty TMPDIR. */
const sandbox = (name: string, keepOlder = false) => {
  const dir = mkdtempSync(join(root, `${name.replace(/\W+/g, "-").slice(0, 40)}-`))
  const run = join(dir, "run")
  cpSync(base, run, { recursive: true })
  if (!keepOlder) rmSync(join(run, "checkpoints", "step-00000001"), { recursive: true })
  const outside = join(dir, "outside")
  mkdirSync(outside)
  writeFileSync(join(outside, "canary.txt"), "must stay as it is\n")
  mkdirSync(join(dir, "tmp"))
  return { dir, run, outside, checkpoint: join(run, "checkpoints", "step-00000002"), env: { TMPDIR: join(dir, "tmp") } }
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
let seed = 0

describe("hostile checkpoint files: simclr pretrain (and export) refuse them by name, write nothing, run nothing", () => {
  for (const [group, cases] of [["truncated", truncated], ["corrupted", corrupted], ["hostile", hostile]] as const) {
    for (const c of cases) {
      const random = seededRandom(++seed)
      it(`${group}: ${c.name}`, async () => {
        const box = sandbox(c.name)
        c.damage({ run: box.run, checkpoint: box.checkpoint, outside: box.outside, random })
        const before = snapshot(box.dir)
        const commands = [pretrainArgs(box.run), ...(c.viaExport === true ? [["export", "--run", box.run, "--out", join(box.run, "export"), "--backend", "cpu"]] : [])]
        for (const command of commands) {
          const result = await runSimclr(command, { cwd: box.dir, env: box.env })
          // The error names the checkpoint's folder, the file and what is wrong, and is not a crash.
          const named = new RegExp(`^simclr: checkpoint ${escape(join(box.run, "checkpoints"))}(: no intact checkpoint to resume from \\(.*\\): step-00000002|/step-00000002): ${c.reason.source}`, "m")
          expect({ command: command[0], code: result.code, stderr: result.stderr }).toMatchObject({ code: 1, stderr: expect.stringMatching(named) })
          expect(result.stderr).not.toMatch(/^\s+at /m)
        }
        // Nothing was written anywhere in the sandbox: not in the run folder, not beside it, not in TMPDIR.
        expect(snapshot(box.dir)).toEqual(before)
        rmSync(box.dir, { recursive: true })
      })
    }
  }
})

/** Resumes the sandbox's run for one more step: it must end well, and change nothing outside the run folder. */
const resume = async (box: ReturnType<typeof sandbox>) => {
  const outside = snapshot(box.dir, ["run"])
  const result = await runSimclr(pretrainArgs(box.run, 3), { cwd: box.dir, env: box.env })
  expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 })
  expect(snapshot(box.dir, ["run"])).toEqual(outside)
  expect(JSON.parse(readFileSync(join(box.run, "results.json"), "utf8"))).toMatchObject({ steps: 3, ending: "max-steps" })
  return result
}

describe("hostile but harmless: the run resumes and trains, writing only inside its folder", () => {
  it("the newest checkpoint damaged, an older one intact: a warning names the damaged one, the run goes on from the older", async () => {
    const box = sandbox("fallback", true)
    flipByte(join(box.checkpoint, "tensors.bin"), seededRandom(100))
    const result = await resume(box)
    expect(result.stdout + result.stderr).toMatch(new RegExp(`skipping damaged checkpoint: checkpoint ${escape(box.checkpoint)}: tensors\\.bin fails its checksum: damaged`))
    expect(result.stdout).toMatch(/resuming from .*step-00000001 \(step 1\)/)
  })

  it("JSON state and config holding code and __proto__ keys are data: nothing runs, nothing is polluted", async () => {
    const box = sandbox("payload")
    const code = `require("node:fs").writeFileSync(${JSON.stringify(join(box.dir, "PWNED"))}, "")`
    const payload = JSON.parse(`{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}, "toString": ${JSON.stringify(code)}, "valueOf": ${JSON.stringify(`$(touch ${join(box.dir, "PWNED")})`)}}`) as Record<string, unknown>
    rewrite(box.checkpoint, (m) => {
      m["state"] = payload
      m["config"] = payload
    })
    await resume(box)
    expect(readdirSync(box.dir)).not.toContain("PWNED")
  })

  it("a crashed writer's temporary folder that links outside the run: the link is removed, not what it points at", async () => {
    const box = sandbox("tmp-link")
    symlinkSync(box.outside, join(box.run, "checkpoints", ".tmp-step-00000009-1-1"))
    await resume(box)
    expect(readdirSync(join(box.run, "checkpoints")).toSorted()).toEqual(["step-00000002", "step-00000003"])
    expect(readFileSync(join(box.outside, "canary.txt"), "utf8")).toBe("must stay as it is\n")
  })
})
