/**
 * The `simclr` command end to end, as a user runs it (the bin shim over the built dist/cli.js in a child process, cpu
 * backend, a tiny model on the synthetic set): pre-train, interrupt with Ctrl-C (SIGINT: the step
 * finishes, a checkpoint is written, the process exits cleanly), kill with SIGKILL mid-run, resume to
 * the end, then linear and kNN evaluation.
 */
import { spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"

const cli = fileURLToPath(new URL("../bin/simclr.js", import.meta.url))
const root = mkdtempSync(join(tmpdir(), "simclr-cli-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const tiny = {
  imageSize: 8,
  batchSize: 8,
  epochs: 3,
  encoder: { depth: 18, stem: "cifar", baseWidth: 4, blocksPerGroup: [1, 1, 1, 1] },
  head: { numLayers: 2, outputDim: 8 },
  optimizer: { name: "lars", learningRate: 1, scaling: "linear", weightDecay: 1e-4, warmupEpochs: 0 },
  checkpointEvery: 1
}
// YAML (a JSON document is valid YAML; the CLI picks the parser by the extension).
const configPath = join(root, "tiny.yaml")
writeFileSync(configPath, Object.entries(tiny).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join("\n") + "\n")
const args = (out: string) => ["pretrain", "--config", configPath, "--data", "synthetic:48", "--out", out, "--backend", "cpu"]

const run = (argv: Array<string>) => spawnSync(process.execPath, [cli, ...argv], { encoding: "utf8", timeout: 300_000 })

/** Starts a pretrain run and sends `signal` once `metrics.jsonl` has `afterSteps` lines; resolves with the exit. */
const interrupt = (out: string, signal: NodeJS.Signals, afterSteps: number) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [cli, ...args(out)], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    const timer = setInterval(() => {
      const metrics = join(out, "metrics.jsonl")
      if (existsSync(metrics) && readFileSync(metrics, "utf8").trim().split("\n").length >= afterSteps) {
        clearInterval(timer)
        child.kill(signal)
      }
    }, 20)
    child.on("exit", (code, sig) => {
      clearInterval(timer)
      resolve({ code, signal: sig, stdout, stderr })
    })
  })

const losses = (out: string) => readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { step: number; loss: number }))

describe("simclr CLI", () => {
  it("pretrain: Ctrl-C stops after a checkpoint, SIGKILL loses at most the step in flight, and resuming reaches the same losses", async () => {
    const reference = join(root, "reference")
    const whole = run(args(reference))
    expect({ status: whole.status, stderr: whole.stderr }).toMatchObject({ status: 0 })
    expect(whole.stdout + whole.stderr).toMatch(/completed: 18 steps/)
    // Not a terminal: a progress line at step 1 and every 10 steps, with the ETA.
    expect(whole.stderr).toMatch(/epoch 0 step 1\/18 {2}loss \d\.\d{4} {2}acc [\d.]+ {2}probe [\d.]+ {2}lr [\d.e+-]+ {2}[\d.]+ img\/s {2}ETA \d+[hms]/)
    const expected = losses(reference)

    const out = join(root, "interrupted")
    const stopped = await interrupt(out, "SIGINT", 3)
    expect({ code: stopped.code, stderr: stopped.stderr }).toMatchObject({ code: 0 })
    expect(stopped.stderr).toMatch(/stopping after this step/)
    expect(stopped.stdout).toMatch(/stopped: \d+ steps/)
    const killed = await interrupt(out, "SIGKILL", 8)
    expect(killed.signal).toBe("SIGKILL")
    const resumed = run(args(out))
    expect({ status: resumed.status, stderr: resumed.stderr }).toMatchObject({ status: 0 })
    expect(resumed.stdout).toMatch(/resuming from .*step-\d{8}/)
    // metrics.jsonl holds every logged step, the re-done ones (lost to SIGKILL) twice: the last entry per step counts.
    const byStep = new Map(losses(out).map((m) => [m.step, m.loss]))
    expect([...byStep.keys()].toSorted((a, b) => a - b)).toEqual(expected.map((m) => m.step))
    expect(expected.map((m) => byStep.get(m.step))).toEqual(expected.map((m) => m.loss))
    expect(readdirSync(join(out, "checkpoints")).at(-1)).toBe("step-00000018")
  })

  it("linear-eval, knn and finetune report top-1/top-5 and write them to the run folder; a bad flag names the allowed values", () => {
    const out = join(root, "reference")
    const linear = run(["linear-eval", "--run", out, "--train", "synthetic:80", "--test", "synthetic:40", "--epochs", "5", "--backend", "cpu"])
    expect({ status: linear.status, stderr: linear.stderr }).toMatchObject({ status: 0 })
    const result = JSON.parse(readFileSync(join(out, "linear-eval-h.json"), "utf8")) as { top1: number; top5: number; count: number; step: number }
    expect(result.count).toBe(40)
    expect(result.step).toBe(18)
    expect(result.top5).toBeGreaterThanOrEqual(result.top1)
    const knn = run(["knn", "--run", out, "--train", "synthetic:80", "--test", "synthetic:40", "--k", "10", "--output", "z", "--backend", "cpu"])
    expect({ status: knn.status, stderr: knn.stderr }).toMatchObject({ status: 0 })
    expect(JSON.parse(readFileSync(join(out, "knn-z.json"), "utf8")).count).toBe(40)
    // Baselines and a label fraction: raw pixels on 10 % of the labels (8 per class → round(0.8) = 1 each: 10 of 80), the encoder at random init.
    const pixels = run(["linear-eval", "--run", out, "--train", "synthetic:80", "--test", "synthetic:40", "--epochs", "3", "--baseline", "raw-pixels", "--label-fraction", "0.1", "--standardize", "--backend", "cpu"])
    expect({ status: pixels.status, stderr: pixels.stderr }).toMatchObject({ status: 0 })
    expect(JSON.parse(readFileSync(join(out, "linear-eval-raw-pixels-10pct.json"), "utf8"))).toMatchObject({ count: 40, output: "pixels", baseline: "raw-pixels", labelFraction: 0.1, trainImages: 10, standardize: true })
    const random = run(["knn", "--run", out, "--train", "synthetic:80", "--test", "synthetic:40", "--k", "10", "--baseline", "random-init", "--backend", "cpu"])
    expect({ status: random.status, stderr: random.stderr }).toMatchObject({ status: 0 })
    expect(JSON.parse(readFileSync(join(out, "knn-h-random-init.json"), "utf8"))).toMatchObject({ count: 40, output: "h", baseline: "random-init", step: 0, trainImages: 80 })
    const tuned = run(["finetune", "--run", out, "--data", "synthetic:40", "--test", "synthetic:20", "--label-fraction", "0.5", "--epochs", "1", "--batch-size", "10", "--backend", "cpu"])
    expect({ status: tuned.status, stderr: tuned.stderr }).toMatchObject({ status: 0 })
    const tunedResult = JSON.parse(readFileSync(join(out, "finetune", "results.json"), "utf8")) as { labeled: number; steps: number; test: { count: number } }
    expect([tunedResult.labeled, tunedResult.steps, tunedResult.test.count]).toEqual([20, 2, 20])
    // The real folders told apart, before any work: the finetune output is not a pretrain run, the pretrain run is not a finetune output.
    const runConfig = readFileSync(join(out, "config.json"), "utf8")
    const tunedConfig = readFileSync(join(out, "finetune", "config.json"), "utf8")
    const asRun = run(["linear-eval", "--run", join(out, "finetune"), "--train", "synthetic:80", "--test", "synthetic:40", "--backend", "cpu"])
    expect({ status: asRun.status, stdout: asRun.stdout, stderr: asRun.stderr }).toEqual({
      status: 1,
      stdout: "",
      stderr: `simclr: run folder ${join(out, "finetune")}: is a finetune output folder (fine-tuned from ${out}); expected a pretrain run folder (config.json and checkpoints/, written by simclr pretrain or demo)\n`
    })
    const asOut = run(["finetune", "--run", out, "--data", "synthetic:40", "--out", out, "--backend", "cpu"])
    expect({ status: asOut.status, stdout: asOut.stdout, stderr: asOut.stderr }).toEqual({
      status: 1,
      stdout: "",
      stderr: `simclr: run folder ${out}: is a pretrain run folder; expected a new or empty folder, or a finetune output folder (config.json naming its pretrain run, and checkpoints/, written by simclr finetune)\n`
    })
    expect([readFileSync(join(out, "config.json"), "utf8"), readFileSync(join(out, "finetune", "config.json"), "utf8")]).toEqual([runConfig, tunedConfig])
    // An explicit list of labeled images (ids as the source names them; blank lines and comments ignored).
    const ids = join(root, "ids.txt")
    writeFileSync(ids, "# my labeled images\nsynthetic#3\n\nsynthetic#7\nsynthetic#12\n")
    const listed = run(["finetune", "--run", out, "--data", "synthetic:40", "--label-ids", ids, "--out", join(root, "listed"), "--epochs", "1", "--batch-size", "3", "--backend", "cpu"])
    expect({ status: listed.status, stderr: listed.stderr }).toMatchObject({ status: 0 })
    expect((JSON.parse(readFileSync(join(root, "listed", "results.json"), "utf8")) as { labeled: number }).labeled).toBe(3)
    writeFileSync(ids, "synthetic#3\nsynthetic#99\n")
    const missing = run(["finetune", "--run", out, "--data", "synthetic:40", "--label-ids", ids, "--out", join(root, "listed2"), "--backend", "cpu"])
    expect(missing.status).not.toBe(0)
    expect(missing.stderr).toMatch(/labelIds: 1 of 2 ids are not in synthetic \(40 images.*first: synthetic#99/)
    const bad = run(["pretrain", "--backend", "gpu"])
    expect(bad.status).not.toBe(0)
    expect(bad.stdout + bad.stderr).toMatch(/--backend: "gpu"\. Expected: "auto" \| "tensorflow" \| "onednn" \| "wasm" \| "cpu"/)
    const threads = run(["pretrain", "--threads", "9", "--out", join(root, "never")])
    expect(threads.status).not.toBe(0)
    expect(threads.stderr).toMatch(/--threads: expected an integer from 1 to 8, got 9/)
  })

  it("embed writes .npy + ids; export writes a TF.js model whose features equal the embeddings", async () => {
    const out = join(root, "reference")
    const npy = join(root, "emb", "h.npy")
    const embed = run(["embed", "--run", out, "--data", "synthetic:12:5", "--out", npy, "--backend", "cpu"])
    expect({ status: embed.status, stderr: embed.stderr }).toMatchObject({ status: 0 })
    const bytes = readFileSync(npy)
    const headerLength = bytes.readUInt16LE(8)
    expect(bytes.subarray(10, 10 + headerLength).toString()).toContain("'shape': (12, 32)")
    const embedded = new Float32Array(new Uint8Array(bytes.subarray(10 + headerLength)).buffer)
    expect(readFileSync(join(root, "emb", "h.ids.txt"), "utf8").trim().split("\n")).toEqual(Array.from({ length: 12 }, (_v, i) => `synthetic#${i}`))
    const exported = join(root, "export")
    const exp = run(["export", "--run", out, "--out", exported, "--backend", "cpu"])
    expect({ status: exp.status, stderr: exp.stderr }).toMatchObject({ status: 0 })
    // The exported encoder, loaded with stock tfjs in a fresh process, gives the embeddings back.
    const check = spawnSync(process.execPath, ["--input-type=module", "-e", `
      import * as tf from "@tensorflow/tfjs-core"
      import "@tensorflow/tfjs-backend-cpu"
      import { loadModel } from "@simclr/encoders"
      import { imageBatches, synthetic, toAsyncIterable, toTensors } from "@simclr/data-stream"
      await tf.setBackend("cpu")
      const model = await loadModel(${JSON.stringify(exported)})
      for await (const b of toAsyncIterable(imageBatches(synthetic({ size: 12, seed: 5, imageSize: 8 }), { batchSize: 12, imageSize: 8, shuffle: false }))) {
        console.log(JSON.stringify(Array.from(model.predict(toTensors(b).images).dataSync())))
      }
    `], { encoding: "utf8", cwd: fileURLToPath(new URL("..", import.meta.url)) })
    expect({ status: check.status, stderr: check.stderr }).toMatchObject({ status: 0 })
    const direct = JSON.parse(check.stdout.trim().split("\n").at(-1)!) as Array<number>
    expect(direct.length).toBe(embedded.length)
    direct.forEach((v, i) => expect(Math.abs(v - embedded[i]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(v))))
  })
  it("pretrain --v2: the momentum network and queue (flags into the config's v2 block, the 3-layer head), resumable; finetune of a v2 run reads head layer 1 and says so; bad v2 flags are named", () => {
    const out = join(root, "v2")
    // The tiny recipe without the head's depth: --v2 then takes the paper's 3-layer head (a depth in the file is kept).
    const v2Config = join(root, "tiny-v2.json")
    writeFileSync(v2Config, JSON.stringify({ ...tiny, head: { outputDim: 8 } }))
    const v2 = ["pretrain", "--config", v2Config, "--data", "synthetic:48", "--out", out, "--backend", "cpu", "--v2", "--queue-size", "32", "--momentum-schedule", "cosine"]
    const first = run([...v2, "--max-steps", "3"])
    expect({ status: first.status, stderr: first.stderr }).toMatchObject({ status: 0 })
    expect(first.stdout + first.stderr).toContain("SimCLR v2: memory queue of 32 keys, momentum 0.99 (cosine), positives online, 3-layer head")
    const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as { head: { numLayers: number }; v2: unknown }
    expect([config.head.numLayers, config.v2]).toEqual([3, { queueSize: 32, momentum: 0.99, momentumSchedule: "cosine", positives: "online" }])
    const resumed = run(v2)
    expect({ status: resumed.status, stderr: resumed.stderr }).toMatchObject({ status: 0 })
    expect(resumed.stdout + resumed.stderr).toMatch(/completed: 18 steps/)
    const lines = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number; queueRows: number; momentum: number })
    // 16 keys a step (batch 8, two views) into 32 rows: 0, 16, then full.
    expect(lines.map((l) => l.queueRows)).toEqual([0, 16, ...Array.from({ length: 16 }, () => 32)])
    expect(lines[0]!.momentum).toBe(0.99)
    expect(lines.at(-1)!.momentum).toBeGreaterThan(0.999)
    const tuned = run(["finetune", "--run", out, "--data", "synthetic:40", "--epochs", "1", "--batch-size", "10", "--backend", "cpu"])
    expect({ status: tuned.status, stderr: tuned.stderr }).toMatchObject({ status: 0 })
    expect(tuned.stdout + tuned.stderr).toContain("a SimCLR v2 run: fine-tuning from the projection head's first layer (--ft-proj-selector 1, as the paper)")
    expect((JSON.parse(readFileSync(join(out, "finetune", "config.json"), "utf8")) as { ftProjSelector: number }).ftProjSelector).toBe(1)
    const bad = run(["pretrain", "--config", configPath, "--data", "synthetic:48", "--out", join(root, "v2-bad"), "--backend", "cpu", "--momentum", "1.5"])
    expect({ status: bad.status, stdout: bad.stdout }).toEqual({ status: 1, stdout: "" })
    expect(bad.stderr).toContain(`Expected a value between 0 and 1\n  at ["v2"]["momentum"]`)
    expect(existsSync(join(root, "v2-bad"))).toBe(false)
  })
})
