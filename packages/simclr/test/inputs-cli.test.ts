/**
 * What every `simclr` command says about bad input, as a user runs it (the bin shim over dist/cli.js in a
 * child process, started in a scratch folder so that any default output would land there): unknown
 * config keys and flags, and paths that are missing, unreadable, unwritable, empty or a folder of another
 * kind. Each case checks the whole error text and that nothing under the folder was written (no run
 * folder, no report, no export). Every check runs before a backend starts, so these take a second or two
 * each; only the setup trains (one step of a tiny model, so that `run` is a real pretrain run).
 */
import { spawn, spawnSync } from "node:child_process"
import { chmodSync, cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { pretrainPresets } from "../src/config.ts"
import { finetuneDefaults } from "../src/finetune.ts"

const cli = fileURLToPath(new URL("../bin/simclr.js", import.meta.url))
const root = mkdtempSync(join(tmpdir(), "simclr-inputs-cli-"))
afterAll(() => {
  for (const folder of ["locked", "readonly", "readonly-run"]) chmodSync(join(root, folder), 0o755)
  rmSync(root, { recursive: true, force: true })
})

// Relative to root, the commands' working folder, so the messages are the same on every machine.
mkdirSync(join(root, "empty"))
mkdirSync(join(root, "photos", "cats"), { recursive: true })
writeFileSync(join(root, "photos", "cats", "a.png"), "")
writeFileSync(join(root, "notes.txt"), "not data\n")
symlinkSync("loop", join(root, "loop"))
// A real pretrain run (config.json, checkpoints/step-00000001/, metrics, results): one step of a tiny model.
const tiny = {
  imageSize: 8,
  batchSize: 8,
  encoder: { depth: 18, stem: "cifar", baseWidth: 4, blocksPerGroup: [1, 1, 1, 1] },
  head: { numLayers: 2, outputDim: 8 },
  maxSteps: 1
}
writeFileSync(join(root, "tiny.json"), JSON.stringify(tiny))
const trained = spawnSync(process.execPath, [cli, "pretrain", "--config", "tiny.json", "--data", "synthetic:8", "--out", "run", "--backend", "cpu"], { cwd: root, encoding: "utf8" })
if (trained.status !== 0) throw new Error(`the setup's pretrain run failed: ${trained.stderr}`)
// A pretrain run that has not written a checkpoint yet.
mkdirSync(join(root, "started", "checkpoints"), { recursive: true })
writeFileSync(join(root, "started", "config.json"), JSON.stringify(pretrainPresets.demo(), null, 2) + "\n")
mkdirSync(join(root, "run", "finetune", "checkpoints"), { recursive: true })
writeFileSync(join(root, "run", "finetune", "config.json"), JSON.stringify({ run: "run", runStep: 12, labeled: 40, ...finetuneDefaults() }, null, 2) + "\n")
writeFileSync(
  join(root, "typos.yaml"),
  "temprature: 0.5\nencoder: { depth: 18, bogus: 1 }\noptimizer: { name: adam, learningRate: 0.004, scaling: linear, weightDecay: 0, lerningRate: 0.1 }\n"
)
writeFileSync(join(root, "augment.yaml"), "augment: { size: [24, 24], flipp: 0.5, crop: { sampler: tf, area: [0.35, 1], method: bilinear, bogus: 1 } }\n")
writeFileSync(join(root, "list.yaml"), "- temperature: 0.5\n")
writeFileSync(join(root, "broken.yaml"), "temperature: 0.5\ntemperature: 0.2\n")
// Unreadable to anyone but root. Root reads it anyway, so as root the commands that read it run as nobody
// (setpriv), for whom it is unreadable; every other command runs as the user running the tests.
mkdirSync(join(root, "locked", "cats"), { recursive: true })
chmodSync(join(root, "locked"), 0o000)
// Readable but not writable: an empty folder, and a run (with the root's other folders, to nobody).
mkdirSync(join(root, "readonly"))
chmodSync(join(root, "readonly"), 0o555)
cpSync(join(root, "started"), join(root, "readonly-run"), { recursive: true })
chmodSync(join(root, "readonly-run"), 0o555)
// Where nobody may write, so that a command's other inputs are checked as nobody.
mkdirSync(join(root, "writable"))
chmodSync(join(root, "writable"), 0o777)
chmodSync(root, 0o755)
const asUser = process.getuid?.() === 0 ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath] : [process.execPath]

interface Ran {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

const run = (argv: ReadonlyArray<string>, unprivileged: boolean) =>
  new Promise<Ran>((resolve) => {
    const [command, ...prefix] = unprivileged ? asUser : [process.execPath]
    const child = spawn(command!, [...prefix, cli, ...argv], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    child.on("close", (status) => resolve({ status, stdout, stderr }))
  })

/** Every path under the root with its size and modification time (the locked folder is not looked into). */
const snapshot = (dir = root): Array<string> =>
  readdirSync(dir).toSorted().flatMap((name) => {
    const path = join(dir, name)
    const info = lstatSync(path)
    return info.isDirectory() && name !== "locked" ? [`${path}/`, ...snapshot(path)] : [`${path} ${info.size} ${info.mtimeMs}`]
  })

/** Runs each command (three at a time) and returns what each printed; fails if any wrote a file. */
const runAll = async (commands: ReadonlyArray<ReadonlyArray<string>>, unprivileged = false): Promise<Array<Ran>> => {
  const before = snapshot()
  const results: Array<Ran> = []
  let next = 0
  await Promise.all(Array.from({ length: 3 }, async () => {
    while (next < commands.length) {
      const i = next++
      results[i] = await run(commands[i]!, unprivileged)
    }
  }))
  expect(snapshot()).toEqual(before)
  return results
}

/**
 * Runs each command; returns what each did and what it should have done: failed with exactly
 * `simclr: <message>` on stderr and nothing on stdout (no "backend: …" line: the backend was not started).
 */
const outcomes = async (cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]>, unprivileged = false) => {
  const results = await runAll(cases.map(([argv]) => argv), unprivileged)
  return {
    actual: results.map((r, i) => ({ argv: cases[i]![0].join(" "), status: r.status, stdout: r.stdout, stderr: r.stderr })),
    expected: cases.map(([argv, message]) => ({ argv: argv.join(" "), status: 1, stdout: "", stderr: `simclr: ${message}\n` }))
  }
}

/** The commands that have a --temperature flag. */
const withTemperature = ["pretrain", "knn", "distill"]
const DATA = "expected a folder of images (sub-folders = classes), a glob, a CSV list, an IDX or CIFAR file or folder, or synthetic[:count[:seed]]"
const PRETRAIN = "a pretrain run folder (config.json and checkpoints/, written by simclr pretrain or demo)"
const FINETUNE = "a finetune output folder (config.json naming its pretrain run, and checkpoints/, written by simclr finetune)"
const NO_IMAGES = "no image files (jpg, jpeg, jpe, jfif, png, webp, gif, tif, tiff, avif)"
const EVAL = ["--train", "synthetic:8", "--test", "synthetic:8"]
const NPY = "expected a path for the .npy file (and <name>.ids.txt next to it; missing folders are created)"
const EXPORT = "expected a folder for model.json and its weight shards (created when missing), not a run folder"
const CONFIG = "a JSON or YAML (.yaml/.yml) config file"

describe("simclr: bad input stops every command before any work", () => {
  it("unknown config keys, top-level and nested, are named with their path, the key meant and the allowed keys", async () => {
    const { actual, expected } = await outcomes([
      [
        ["pretrain", "--config", "typos.yaml", "--out", "out"],
        [
          "invalid configuration (typos.yaml and flags):",
          `unknown key "temprature" (did you mean "temperature"?); allowed keys: imageSize, batchSize, epochs, seed, temperature, encoder, head, optimizer, augment, checkpointEvery, keepCheckpoints, logEvery, decodeSize, decodeConcurrency, decodeCache, trainSteps, maxSteps, examplesPerEpoch, linearProbe, chunkSize, v2`,
          `  at ["temprature"]`,
          `unknown key "encoder.bogus"; allowed keys of encoder: depth, widthMultiplier, skRatio, seRatio, stem, batchNormMomentum, batchNormEpsilon, zeroInitLastBlockGamma, shortcut, baseWidth, blocksPerGroup, seed`,
          `  at ["encoder"]["bogus"]`,
          `unknown key "optimizer.lerningRate" (did you mean "learningRate"?); allowed keys of optimizer: name, learningRate, scaling, weightDecay, momentum, warmupEpochs`,
          `  at ["optimizer"]["lerningRate"]`
        ].join("\n")
      ],
      [
        ["pretrain", "--config", "augment.yaml", "--out", "out"],
        [
          "invalid configuration (augment.yaml and flags):",
          `unknown key "augment.flipp" (did you mean "flip"?); allowed keys of augment: size, crop, flip, color, blur, validateRange`,
          `  at ["augment"]["flipp"]`,
          `unknown key "augment.crop.bogus"; allowed keys of augment.crop: sampler, area, ratio, minObjectCovered, maxAttempts, method, style`,
          `  at ["augment"]["crop"]["bogus"]`
        ].join("\n")
      ]
    ])
    expect(actual).toEqual(expected)
  })

  it("an unknown flag is refused by every command, with the nearest flag when one is close and the command's flags listed", async () => {
    const commands = ["demo", "pretrain", "linear-eval", "knn", "finetune", "distill", "embed", "export"]
    const results = await runAll([...commands.map((c) => [c, "--temprature", "0.5"]), ["pretrain", "--temprature=0.5"]])
    expect(results.map((r) => ({ status: r.status, stderr: r.stderr }))).toEqual([...commands, "pretrain"].map((command) => ({
      status: 1,
      stderr: `\nERROR\n  Unrecognized flag: --temprature in command simclr ${command}\n${withTemperature.includes(command) ? "\n  Did you mean this?\n    --temperature\n" : ""}`
    })))
    // The help with every flag of the command goes to stdout.
    expect(results[1]!.stdout).toMatch(/FLAGS\n(.*\n)*  --temperature number +NT-Xent temperature\n/)
    expect(results[2]!.stdout).toMatch(/FLAGS\n(.*\n)*  --run string +a pretrain run folder/)
  })

  it("a missing path names it and what was expected", async () => {
    const { actual, expected } = await outcomes([
      [["pretrain", "--data", "nope", "--out", "out"], `dataset not found: nope (does not exist; ${DATA})`],
      [["pretrain", "--config", "nope.yaml", "--out", "out"], "invalid configuration (--config nope.yaml):\ndoes not exist; expected a JSON or YAML (.yaml/.yml) config file"],
      [["linear-eval", "--run", "nope", ...EVAL], `run folder nope: does not exist; expected ${PRETRAIN}`],
      [["knn", "--run", "run", "--train", "nope", "--test", "synthetic:8"], `dataset not found: nope (does not exist; ${DATA})`],
      [["finetune", "--run", "run", "--data", "nope"], `dataset not found: nope (does not exist; ${DATA})`],
      [["finetune", "--run", "run", "--data", "synthetic:8", "--label-ids", "nope.txt"], "invalid configuration (--label-ids nope.txt):\ndoes not exist; expected a text file of image ids, one a line"],
      [["embed", "--run", "run", "--data", "nope"], `dataset not found: nope (does not exist; ${DATA})`],
      [["export", "--run", "nope"], `run folder nope: does not exist; expected ${PRETRAIN}`],
      [["demo", "--out", "notes.txt"], `run folder notes.txt: is a file, not a folder; expected a new or empty folder, or ${PRETRAIN}`],
      [["knn", "--run", "nope", ...EVAL], `run folder nope: does not exist; expected ${PRETRAIN}`],
      [["linear-eval", "--run", "run", "--train", "synthetic:8", "--test", "nope"], `dataset not found: nope (does not exist; ${DATA})`],
      [["finetune", "--run", "nope", "--data", "synthetic:8"], `run folder nope: does not exist; expected ${PRETRAIN}`],
      [["finetune", "--run", "run", "--data", "synthetic:8", "--test", "nope"], `dataset not found: nope (does not exist; ${DATA})`],
      [["embed", "--run", "nope", "--data", "synthetic:8"], `run folder nope: does not exist; expected ${PRETRAIN}`],
      // A path under a file can be neither read nor created.
      [["pretrain", "--data", "notes.txt/x", "--out", "out"], `dataset not found: notes.txt/x (does not exist (a part of the path is a file); ${DATA})`],
      [["pretrain", "--out", "notes.txt/run"], `run folder notes.txt/run: cannot be created (notes.txt is a file); expected a new or empty folder, or ${PRETRAIN}`],
      [["embed", "--run", "run", "--data", "synthetic:8", "--out", "notes.txt/e.npy"], `invalid configuration (--out notes.txt/e.npy):\ncannot be created (notes.txt is a file); ${NPY}`],
      [["export", "--run", "run", "--out", "notes.txt/web"], `invalid configuration (--out notes.txt/web):\ncannot be created (notes.txt is a file); ${EXPORT}`]
    ])
    expect(actual).toEqual(expected)
  })

  it("an unreadable path: a loop of links (unreadable even to root)", async () => {
    const { actual, expected } = await outcomes([
      [["pretrain", "--data", "loop", "--out", "out"], `dataset not found: loop (cannot be read (a loop of symbolic links); ${DATA})`],
      [["linear-eval", "--run", "loop", ...EVAL], `run folder loop: cannot be read (a loop of symbolic links); expected ${PRETRAIN}`],
      [["demo", "--out", "loop"], `run folder loop: cannot be read (a loop of symbolic links); expected a new or empty folder, or ${PRETRAIN}`],
      [["export", "--run", "loop"], `run folder loop: cannot be read (a loop of symbolic links); expected ${PRETRAIN}`],
      [["knn", "--run", "run", "--train", "synthetic:8", "--test", "loop"], `dataset not found: loop (cannot be read (a loop of symbolic links); ${DATA})`],
      [["finetune", "--run", "loop", "--data", "synthetic:8"], `run folder loop: cannot be read (a loop of symbolic links); expected ${PRETRAIN}`],
      [["finetune", "--run", "run", "--data", "loop"], `dataset not found: loop (cannot be read (a loop of symbolic links); ${DATA})`],
      [["embed", "--run", "loop", "--data", "synthetic:8"], `run folder loop: cannot be read (a loop of symbolic links); expected ${PRETRAIN}`],
      [["pretrain", "--config", "loop", "--out", "out"], `invalid configuration (--config loop):\ncannot be read (a loop of symbolic links); expected ${CONFIG}`]
    ])
    expect(actual).toEqual(expected)
  })

  it("an unreadable path: a folder without permissions (as root: run as nobody)", async () => {
    const { actual, expected } = await outcomes([
      [["pretrain", "--data", "locked", "--out", "writable/out"], `dataset not found: locked (cannot be read (permission denied); ${DATA})`],
      [["pretrain", "--config", "locked/c.yaml", "--out", "out"], "invalid configuration (--config locked/c.yaml):\ncannot be read (permission denied); expected a JSON or YAML (.yaml/.yml) config file"],
      [["knn", "--run", "locked", ...EVAL], `run folder locked: cannot be read (permission denied); expected ${PRETRAIN}`],
      [["embed", "--run", "run", "--data", "locked"], `dataset not found: locked (cannot be read (permission denied); ${DATA})`],
      [["linear-eval", "--run", "locked", ...EVAL], `run folder locked: cannot be read (permission denied); expected ${PRETRAIN}`],
      [["finetune", "--run", "locked", "--data", "synthetic:8"], `run folder locked: cannot be read (permission denied); expected ${PRETRAIN}`],
      [["finetune", "--run", "run", "--data", "synthetic:8", "--out", "writable/ft", "--label-ids", "locked/ids.txt"], `invalid configuration (--label-ids locked/ids.txt):\ncannot be read (permission denied); expected a text file of image ids, one a line`],
      [["export", "--run", "locked"], `run folder locked: cannot be read (permission denied); expected ${PRETRAIN}`],
      [["demo", "--out", "locked/demo"], `run folder locked/demo: cannot be read (permission denied); expected a new or empty folder, or ${PRETRAIN}`]
    ], true)
    expect(actual).toEqual(expected)
  })

  it("an unwritable path, where a command would write (as root: run as nobody)", async () => {
    const { actual, expected } = await outcomes([
      [["pretrain", "--out", "readonly/run"], `run folder readonly/run: cannot be created (readonly: permission denied); expected a new or empty folder, or ${PRETRAIN}`],
      [["demo", "--out", "readonly"], `run folder readonly: cannot be written (permission denied); expected a new or empty folder, or ${PRETRAIN}`],
      [["finetune", "--run", "run", "--data", "synthetic:8", "--out", "readonly/ft"], `run folder readonly/ft: cannot be created (readonly: permission denied); expected a new or empty folder, or ${FINETUNE}`],
      [["embed", "--run", "run", "--data", "synthetic:8", "--out", "readonly/e.npy"], `invalid configuration (--out readonly/e.npy):\ncannot be created (readonly: permission denied); ${NPY}`],
      [["export", "--run", "run", "--out", "readonly/web"], `invalid configuration (--out readonly/web):\ncannot be created (readonly: permission denied); ${EXPORT}`],
      // linear-eval and knn write their report into the run.
      [["knn", "--run", "readonly-run", "--baseline", "raw-pixels", ...EVAL], "run folder readonly-run: cannot be written (permission denied); expected a writable pretrain run folder (the report is written into it)"]
    ], true)
    expect(actual).toEqual(expected)
  })

  it("an empty folder, given as data or as a run", async () => {
    const { actual, expected } = await outcomes([
      [["pretrain", "--data", "empty", "--out", "out"], `empty dataset: empty (${NO_IMAGES})`],
      [["knn", "--run", "run", "--train", "empty", "--test", "synthetic:8"], `empty dataset: empty (${NO_IMAGES})`],
      [["finetune", "--run", "run", "--data", "empty"], `empty dataset: empty (${NO_IMAGES})`],
      [["embed", "--run", "run", "--data", "empty"], `empty dataset: empty (${NO_IMAGES})`],
      [["linear-eval", "--run", "empty", ...EVAL], `run folder empty: is an empty folder; expected ${PRETRAIN}`],
      [["export", "--run", "empty"], `run folder empty: is an empty folder; expected ${PRETRAIN}`],
      [["knn", "--run", "empty", ...EVAL], `run folder empty: is an empty folder; expected ${PRETRAIN}`],
      [["finetune", "--run", "empty", "--data", "synthetic:8"], `run folder empty: is an empty folder; expected ${PRETRAIN}`],
      [["embed", "--run", "empty", "--data", "synthetic:8"], `run folder empty: is an empty folder; expected ${PRETRAIN}`],
      [["linear-eval", "--run", "run", "--train", "synthetic:8", "--test", "empty"], `empty dataset: empty (${NO_IMAGES})`]
    ])
    expect(actual).toEqual(expected)
  })

  it("a folder of another kind: a finetune output or data where a pretrain run is read, a pretrain run or data where a run is written, unlabeled data to evaluate on", async () => {
    const finetuned = `is a finetune output folder (fine-tuned from run)`
    const photos = "is not a run folder: it has no config.json (it holds cats/)"
    const { actual, expected } = await outcomes([
      [["linear-eval", "--run", "run/finetune", ...EVAL], `run folder run/finetune: ${finetuned}; expected ${PRETRAIN}`],
      [["knn", "--run", "photos", ...EVAL], `run folder photos: ${photos}; expected ${PRETRAIN}`],
      [["finetune", "--run", "run/finetune", "--data", "synthetic:8"], `run folder run/finetune: ${finetuned}; expected ${PRETRAIN}`],
      [["finetune", "--run", "run", "--data", "synthetic:8", "--out", "run"], `run folder run: is a pretrain run folder; expected a new or empty folder, or ${FINETUNE}`],
      [["embed", "--run", "photos", "--data", "synthetic:8"], `run folder photos: ${photos}; expected ${PRETRAIN}`],
      [["export", "--run", "run/finetune"], `run folder run/finetune: ${finetuned}; expected ${PRETRAIN}`],
      [["pretrain", "--out", "run/finetune"], `run folder run/finetune: ${finetuned}; expected a new or empty folder, or ${PRETRAIN}`],
      [["demo", "--out", "photos"], `run folder photos: ${photos}; expected a new or empty folder, or ${PRETRAIN}`],
      [["linear-eval", "--run", "run", "--train", "photos/cats", "--test", "synthetic:8"], "invalid configuration (--train photos/cats):\nhas no labels; evaluation needs labeled data (class sub-folders, a CSV with labels, IDX or CIFAR labels)"],
      [["knn", "--run", "run", "--train", "synthetic:8", "--test", "photos/cats"], "invalid configuration (--test photos/cats):\nhas no labels; evaluation needs labeled data (class sub-folders, a CSV with labels, IDX or CIFAR labels)"],
      [["finetune", "--run", "run", "--data", "photos/cats"], "invalid configuration (--data photos/cats):\nhas no labels; fine-tuning needs labeled data (class sub-folders, a CSV with labels, IDX or CIFAR labels)"],
      [["finetune", "--run", "run", "--data", "synthetic:8", "--test", "photos/cats"], "invalid configuration (--test photos/cats):\nhas no labels; fine-tuning needs labeled data (class sub-folders, a CSV with labels, IDX or CIFAR labels)"],
      // A run folder given as data, as the output of embed or export, or as a config file.
      [["pretrain", "--data", "run", "--out", "out"], `empty dataset: run (is a run folder (config.json and checkpoints/), not images; ${DATA})`],
      [["embed", "--run", "run", "--data", "run"], `empty dataset: run (is a run folder (config.json and checkpoints/), not images; ${DATA})`],
      [["embed", "--run", "run", "--data", "synthetic:8", "--out", "photos"], `invalid configuration (--out photos):\nis a folder, not a file; ${NPY}`],
      [["export", "--run", "run", "--out", "run"], `invalid configuration (--out run):\nis a pretrain run folder; ${EXPORT}`],
      [["export", "--run", "run", "--out", "run/finetune"], `invalid configuration (--out run/finetune):\n${finetuned}; ${EXPORT}`],
      [["export", "--run", "run", "--out", "notes.txt"], `invalid configuration (--out notes.txt):\nis a file, not a folder; ${EXPORT}`],
      [["pretrain", "--config", "run", "--out", "out"], `invalid configuration (--config run):\nis a folder, not a file; expected ${CONFIG}`]
    ])
    expect(actual).toEqual(expected)
  })

  it("a pretrain run without a checkpoint yet, where a trained encoder is read", async () => {
    const started = `run folder started: has no checkpoint yet; expected ${PRETRAIN}`
    const { actual, expected } = await outcomes([
      [["linear-eval", "--run", "started", ...EVAL], started],
      [["knn", "--run", "started", ...EVAL], started],
      [["finetune", "--run", "started", "--data", "synthetic:8"], started],
      [["embed", "--run", "started", "--data", "synthetic:8"], started],
      [["export", "--run", "started"], started]
    ])
    expect(actual).toEqual(expected)
  })

  it("a config file that is not a mapping of keys, or not JSON or YAML", async () => {
    const { actual, expected } = await outcomes([
      [["pretrain", "--config", "list.yaml", "--out", "out"], `invalid configuration (--config list.yaml):\nis not ${CONFIG}: it holds a list, not a mapping of config keys`],
      [["pretrain", "--config", "broken.yaml", "--out", "out"], `invalid configuration (--config broken.yaml):\nis not ${CONFIG}: Map keys must be unique at line 2, column 1:\n\ntemperature: 0.5\ntemperature: 0.2\n^`]
    ])
    expect(actual).toEqual(expected)
  })
})
