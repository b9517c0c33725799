/**
 * Paths a user types, checked by the functions the commands call before any work: a data path
 * (`resolveData`) and a run folder (`requireRunFolder`, `readRunConfig`, `loadRun`, `finetune`'s `out`)
 * that is missing, unreadable, empty or of another kind is an error naming the path, what it is and what
 * was expected, and nothing is written. The CLI's own tests (inputs-cli.test.ts) run the commands.
 */
import { assert, describe, it } from "@effect/vitest"
import { synthetic } from "@simclr/data-stream"
import { Effect } from "effect"
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import { pretrainPresets } from "../src/config.ts"
import { finetune, finetuneDefaults } from "../src/finetune.ts"
import { loadRun, outputProblem, readRun, readRunConfig, requireRunFolder, writeProblem } from "../src/loadRun.ts"
import { pathProblem, resolveData } from "../src/resolveData.ts"

const root = mkdtempSync(join(tmpdir(), "simclr-inputs-paths-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const at = (...parts: Array<string>) => join(root, ...parts)
mkdirSync(at("empty"))
mkdirSync(at("photos", "cats"), { recursive: true })
mkdirSync(at("photos", "dogs"), { recursive: true })
writeFileSync(at("photos", "cats", "a.png"), "")
writeFileSync(at("notes.txt"), "not data\n")
symlinkSync(at("loop"), at("loop"))
// Run folders as the commands write them: a pretrain run's config.json is its PretrainConfig, a finetune
// output's names the run it started from.
mkdirSync(at("run", "checkpoints"), { recursive: true })
writeFileSync(at("run", "config.json"), JSON.stringify(pretrainPresets.demo(), null, 2) + "\n")
mkdirSync(at("run", "finetune", "checkpoints"), { recursive: true })
writeFileSync(at("run", "finetune", "config.json"), JSON.stringify({ run: at("run"), runStep: 12, labeled: 40, ...finetuneDefaults() }, null, 2) + "\n")
mkdirSync(at("broken"))
writeFileSync(at("broken", "config.json"), "{ imageSize: 8")
mkdirSync(at("stranger"))
writeFileSync(at("stranger", "config.json"), JSON.stringify({ name: "something else" }))
// A first start killed before it renamed its config.json into place; a run whose config.json asks for an encoder no schema allows.
mkdirSync(at("x-killed"))
writeFileSync(at("x-killed", "config.json.tmp-4242"), "{ \"imageSize\"")
mkdirSync(at("x-hostile", "checkpoints"), { recursive: true })
writeFileSync(at("x-hostile", "config.json"), JSON.stringify({ ...pretrainPresets.demo(), encoder: { ...pretrainPresets.demo().encoder, depth: 1e9 } }))

/** Every path under the root with its size and modification time: equal before and after means nothing was written. */
const snapshot = (dir = root): Array<string> =>
  readdirSync(dir).toSorted().flatMap((name) => {
    const path = join(dir, name)
    const info = lstatSync(path)
    return info.isDirectory() ? [`${path}/`, ...snapshot(path)] : [`${path} ${info.size} ${info.mtimeMs}`]
  })

/** The message of the error `effect` fails with, after checking its tag and that nothing under the root changed. */
const failure = <A, E extends { readonly _tag: string; readonly message: string }>(effect: Effect.Effect<A, E>, tag: string) =>
  Effect.gen(function*() {
    const before = snapshot()
    const error = yield* Effect.flip(effect)
    assert.deepStrictEqual(snapshot(), before, "something was written")
    assert.strictEqual(error._tag, tag)
    return error.message
  })

const DATA = "expected a folder of images (sub-folders = classes), a glob, a CSV list, an IDX or CIFAR file or folder, or synthetic[:count[:seed]]"
const PRETRAIN = "a pretrain run folder (config.json and checkpoints/, written by simclr pretrain or demo)"
const FINETUNE = "a finetune output folder (config.json naming its pretrain run, and checkpoints/, written by simclr finetune)"

const data = (path: string) => resolveData(path, { imageSize: 8 })
const coded = (code: string) => Object.assign(new Error(`${code}: raw message`), { code })

describe("data paths (resolveData)", () => {
  it.effect("a missing path, a link loop (unreadable, even to root), an empty folder, a file that is not data", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* failure(data(at("nope")), "DatasetNotFoundError"), `dataset not found: ${at("nope")} (does not exist; ${DATA})`)
      assert.strictEqual(yield* failure(data(at("loop")), "DatasetNotFoundError"), `dataset not found: ${at("loop")} (cannot be read (a loop of symbolic links); ${DATA})`)
      assert.strictEqual(yield* failure(data(at("empty")), "EmptyDatasetError"), `empty dataset: ${at("empty")} (no image files (jpg, jpeg, jpe, jfif, png, webp, gif, tif, tiff, avif))`)
      assert.strictEqual(yield* failure(data(at("notes.txt")), "InvalidOptionError"), `data: ${at("notes.txt")} is a file but not a CSV list, an IDX file or a CIFAR batch`)
      assert.strictEqual(yield* failure(data(at("notes.txt", "x")), "DatasetNotFoundError"), `dataset not found: ${at("notes.txt", "x")} (does not exist (a part of the path is a file); ${DATA})`)
      // A run folder given as data holds no images, and is named as what it is.
      assert.strictEqual(yield* failure(data(at("run")), "EmptyDatasetError"), `empty dataset: ${at("run")} (is a run folder (config.json and checkpoints/), not images; ${DATA})`)
    }))

  it("pathProblem words each file-system error (permission denied cannot be produced by chmod when the tests run as root)", () => {
    assert.deepStrictEqual(
      ["ENOENT", "ENOTDIR", "EACCES", "EPERM", "ELOOP", "EISDIR", "EIO"].map((code) => pathProblem(coded(code))),
      [
        "does not exist",
        "does not exist (a part of the path is a file)",
        "cannot be read (permission denied)",
        "cannot be read (permission denied)",
        "cannot be read (a loop of symbolic links)",
        "is a folder, not a file",
        "EIO: raw message"
      ]
    )
  })
})

describe("run folders (requireRunFolder, readRunConfig, loadRun)", () => {
  it.effect("a pretrain run is read back; a finetune output is recognised as one", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* readRunConfig(at("run")), pretrainPresets.demo())
      assert.strictEqual((yield* requireRunFolder(at("run", "finetune"), "finetune"))?.["run"], at("run"))
      // Where a run is written, a new or empty folder or one of the same kind is fine.
      for (const [path, kind] of [[at("new"), "pretrain"], [at("empty"), "finetune"], [at("run"), "pretrain"], [at("run", "finetune"), "finetune"]] as const) {
        yield* requireRunFolder(path, kind, "write")
      }
    }))

  it.effect("where a pretrain run is read: missing, unreadable, a file, empty, a data folder, a finetune output, a broken or foreign config.json", () =>
    Effect.gen(function*() {
      const cases: Array<[string, string]> = [
        [at("nope"), "does not exist"],
        [at("loop"), "cannot be read (a loop of symbolic links)"],
        [at("notes.txt"), "is a file, not a folder"],
        [at("empty"), "is an empty folder"],
        [at("photos"), "is not a run folder: it has no config.json (it holds cats/, dogs/)"],
        [root, "is not a run folder: it has no config.json (it holds broken/, empty/, loop, …)"],
        [at("run", "finetune"), `is a finetune output folder (fine-tuned from ${at("run")})`],
        [at("stranger"), "has a config.json that is neither a pretrain run's nor a finetune output's"]
      ]
      for (const [path, what] of cases) {
        assert.strictEqual(yield* failure(readRunConfig(path), "RunFolderError"), `run folder ${path}: ${what}; expected ${PRETRAIN}`)
      }
      // JSON.parse's own words differ between Node versions.
      const broken = yield* failure(readRunConfig(at("broken")), "RunFolderError")
      assert.isTrue(broken.startsWith(`run folder ${at("broken")}: its config.json is not JSON (`) && broken.endsWith(`); expected ${PRETRAIN}`), broken)
      // loadRun (embed, export, linear-eval, knn) goes through the same check before building a model.
      assert.strictEqual(yield* failure(loadRun(at("run", "finetune")), "RunFolderError"), `run folder ${at("run", "finetune")}: is a finetune output folder (fine-tuned from ${at("run")}); expected ${PRETRAIN}`)
      // A pretrain run is read with its checkpoint (readRun: no backend needed) before a model is built.
      const noCheckpoint = `run folder ${at("run")}: has no checkpoint yet; expected ${PRETRAIN}`
      assert.strictEqual(yield* failure(readRun(at("run")), "RunFolderError"), noCheckpoint)
      assert.strictEqual(yield* failure(loadRun(at("run")), "RunFolderError"), noCheckpoint)
    }))

  it.effect("a start killed before its config.json was renamed into place leaves a fresh folder; a config.json outside the schema is refused, not built", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* requireRunFolder(at("x-killed"), "pretrain", "write"), undefined)
      assert.strictEqual(yield* failure(readRunConfig(at("x-killed")), "RunFolderError"), `run folder ${at("x-killed")}: is an empty folder; expected ${PRETRAIN}`)
      const hostile = yield* failure(readRunConfig(at("x-hostile")), "RunFolderError")
      assert.isTrue(hostile.startsWith(`run folder ${at("x-hostile")}: its config.json is not a run configuration: `) && hostile.includes("depth"), hostile)
      assert.strictEqual(yield* failure(loadRun(at("x-hostile")), "RunFolderError"), hostile)
    }))

  it.effect("where a run is written: a folder of the other kind or of data is refused, naming what is expected", () =>
    Effect.gen(function*() {
      assert.strictEqual(
        yield* failure(requireRunFolder(at("run"), "finetune", "write"), "RunFolderError"),
        `run folder ${at("run")}: is a pretrain run folder; expected a new or empty folder, or ${FINETUNE}`
      )
      assert.strictEqual(
        yield* failure(requireRunFolder(at("run", "finetune"), "pretrain", "write"), "RunFolderError"),
        `run folder ${at("run", "finetune")}: is a finetune output folder (fine-tuned from ${at("run")}); expected a new or empty folder, or ${PRETRAIN}`
      )
      assert.strictEqual(
        yield* failure(requireRunFolder(at("photos"), "pretrain", "write"), "RunFolderError"),
        `run folder ${at("photos")}: is not a run folder: it has no config.json (it holds cats/, dogs/); expected a new or empty folder, or ${PRETRAIN}`
      )
    }))

  it("where a command writes: a file path, a folder, or a run folder, checked for what is in the way (permission denied cannot be produced when the tests run as root)", async () => {
    // A new path under existing folders, an existing folder, an existing file to be replaced.
    assert.deepStrictEqual(await Promise.all([at("new", "deeper"), at("empty"), at("notes.txt")].map(writeProblem)), [undefined, undefined, undefined])
    assert.strictEqual(await writeProblem(at("notes.txt", "x", "y")), `cannot be created (${at("notes.txt")} is a file)`)
    assert.deepStrictEqual(
      await Promise.all([
        outputProblem(at("new", "e.npy"), "file"),
        outputProblem(at("notes.txt"), "file"),
        outputProblem(at("photos"), "file"),
        outputProblem(at("notes.txt", "e.npy"), "file"),
        outputProblem(at("loop", "e.npy"), "file"),
        outputProblem(at("web"), "folder"),
        outputProblem(at("photos"), "folder"),
        outputProblem(at("notes.txt"), "folder"),
        outputProblem(at("run"), "folder"),
        outputProblem(at("run", "finetune"), "folder"),
        outputProblem(at("loop"), "folder")
      ]),
      [
        undefined,
        undefined,
        "is a folder, not a file",
        `cannot be created (${at("notes.txt")} is a file)`,
        "cannot be read (a loop of symbolic links)",
        undefined,
        undefined,
        "is a file, not a folder",
        "is a pretrain run folder",
        `is a finetune output folder (fine-tuned from ${at("run")})`,
        "cannot be read (a loop of symbolic links)"
      ]
    )
    // Where a run is written, a path under a file is named so.
    assert.strictEqual(
      await Effect.runPromise(Effect.flip(requireRunFolder(at("notes.txt", "run"), "pretrain", "write")).pipe(Effect.map((e) => e.message))),
      `run folder ${at("notes.txt", "run")}: cannot be created (${at("notes.txt")} is a file); expected a new or empty folder, or ${PRETRAIN}`
    )
    assert.deepStrictEqual(snapshot().filter((line) => line.includes("new") || line.includes("web")), [])
  })

  it.effect("finetune refuses a pretrain run as its output folder before reading any data or model, and leaves the run as it was", () =>
    Effect.gen(function*() {
      const message = yield* failure(finetune<never, never>(at("run"), synthetic({ size: 20, imageSize: 8 }), finetuneDefaults(), { out: at("run") }), "RunFolderError")
      assert.strictEqual(message, `run folder ${at("run")}: is a pretrain run folder; expected a new or empty folder, or ${FINETUNE}`)
    }))
})
