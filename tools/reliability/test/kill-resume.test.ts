/**
 * kill -9 and resume: a real `simclr pretrain` child process is killed with SIGKILL ten times at seeded
 * random moments (at start-up, during a training step, caught in the middle of a checkpoint write),
 * each time resuming the same run folder, then left to finish. Its per-step metrics must equal an
 * uninterrupted run's step for step, exactly (two uninterrupted runs are first shown to be identical,
 * so exact equality is the claim: no tolerance), every checkpoint on disk after every kill must load,
 * the checkpoints left at the end must be byte for byte the uninterrupted run's, and no temporary file
 * may be left behind.
 */
import { type SeededRandom, seededRandom } from "@simclr/test-utils"
import { Effect, Option } from "effect"
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { loadRun, readLatestCheckpoint } from "simclr"
import { afterAll, describe, expect, it } from "vitest"
import { type Child, computed, readMetrics, runSimclr, startSimclr, temporaryFiles, tinyRecipe, trainingBackend } from "./support.ts"

const root = mkdtempSync(join(tmpdir(), "simclr-kill-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const backend = trainingBackend("cpu")
/** The tiny ResNet, 6 epochs of 64 synthetic images: 48 steps. */
const config = {
  ...tinyRecipe,
  epochs: 6,
  // Every other step, so a kill between two checkpoints loses a step that the resumed run does again.
  checkpointEvery: 2,
  // Fewer than the run writes, so old checkpoints are deleted while kills land.
  keepCheckpoints: 3
}
const STEPS = 48
const configPath = join(root, "tiny.json")
writeFileSync(configPath, JSON.stringify(config))
const args = (out: string) => ["pretrain", "--config", configPath, "--data", "synthetic:64", "--out", out, "--backend", backend.name]

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const lines = (out: string) => readMetrics(out).length

/** Resolves true once `done()` holds (polled every 5 ms), false if the child exits first. */
const until = (child: Child, done: () => boolean): Promise<boolean> =>
  new Promise((resolve) => {
    let exited = false
    void child.exit.then(() => (exited = true))
    const timer = setInterval(() => {
      if (done() || exited) {
        clearInterval(timer)
        resolve(!exited)
      }
    }, 5)
  })

/**
 * Stops the child (SIGSTOP) as soon as it creates a checkpoint's temporary folder and keeps it stopped
 * if the folder is still there, i.e. the write is caught half-way; otherwise lets it go on and waits
 * for the next checkpoint. Resolves false if the child exits first.
 */
const stopInCheckpointWrite = async (child: Child, checkpoints: string): Promise<boolean> => {
  if (!(await until(child, () => existsSync(checkpoints)))) return false
  return new Promise((resolve) => {
    const watcher = watch(checkpoints, (_event, name) => {
      if (name === null || !name.startsWith(".tmp-step-") || !name.includes(`-${child.pid}-`)) return
      process.kill(child.pid, "SIGSTOP")
      if (existsSync(join(checkpoints, name))) {
        watcher.close()
        resolve(true)
      } else process.kill(child.pid, "SIGCONT")
    })
    void child.exit.then(() => {
      watcher.close()
      resolve(false)
    })
  })
}

/** What the killed process was doing, from what it left on disk. */
const phaseOf = (out: string, pid: number, linesAtStart: number): string => {
  const checkpoints = join(out, "checkpoints")
  const mine = (existsSync(checkpoints) ? readdirSync(checkpoints) : []).filter((n) => n.includes(`-${pid}-`))
  if (mine.some((n) => n.startsWith(".tmp-step-"))) return "checkpoint write"
  if (mine.some((n) => n.startsWith(".tmp-prune-"))) return "checkpoint pruning"
  if (existsSync(out) && readdirSync(out).some((n) => n.endsWith(`.tmp-${pid}`))) return "config/results write"
  return lines(out) === linesAtStart ? "start-up" : "training step"
}

/**
 * Every checkpoint folder in the run loads: alone in a copy of the run folder (its config.json and that
 * one checkpoint), `loadRun` reads it, checks it and restores it into the model. Returns their steps.
 */
const loadEach = async (out: string): Promise<Array<number>> => {
  const checkpoints = join(out, "checkpoints")
  const names = existsSync(checkpoints) ? readdirSync(checkpoints).filter((n) => n.startsWith("step-")) : []
  const steps: Array<number> = []
  for (const name of names) {
    const alone = mkdtempSync(join(root, "alone-"))
    cpSync(join(out, "config.json"), join(alone, "config.json"))
    cpSync(join(checkpoints, name), join(alone, "checkpoints", name), { recursive: true })
    const loaded = await Effect.runPromise(loadRun(alone))
    loaded.model.dispose()
    expect(`step-${String(loaded.step).padStart(8, "0")}`).toBe(name)
    steps.push(loaded.step)
    rmSync(alone, { recursive: true })
  }
  return steps.toSorted((a, b) => a - b)
}

/**
 * Waits for the moment a kill aims at: a seeded fraction (10–90 %) of the start-up time after the
 * spawn; a seeded fraction of a step after one or two new steps; or a checkpoint write caught half-way.
 * False if the child ended first.
 */
const reach = async (target: Kill["target"], victim: Child, out: string, linesBefore: number, random: SeededRandom, timing: { readonly startupMs: number; readonly stepMs: number }): Promise<boolean> => {
  switch (target) {
    case "start-up":
      await sleep((0.1 + 0.8 * random.uniform()) * timing.startupMs)
      return true
    case "training step": {
      const steps = 1 + Math.floor(2 * random.uniform())
      const ok = await until(victim, () => lines(out) >= linesBefore + steps)
      await sleep(random.uniform() * timing.stepMs)
      return ok
    }
    case "checkpoint write":
      return stopInCheckpointWrite(victim, join(out, "checkpoints"))
  }
}

interface Kill {
  readonly target: "start-up" | "training step" | "checkpoint write"
  readonly phase: string
  readonly msAfterStart: number
  readonly linesBefore: number
  readonly linesAfter: number
  readonly checkpointsOnDisk: Array<number>
  readonly signal: NodeJS.Signals | null
}

describe(`kill -9 and resume (simclr pretrain on ${backend.name})`, () => {
  it(`10 SIGKILLs at seeded moments, then a finished run: the uninterrupted run's metrics step for step, every checkpoint loads, no temporary files (${backend.why})`, { timeout: 3_600_000 }, async () => {
    const started = performance.now()
    console.log(`kill/resume: training on ${backend.why}`)
    // Two uninterrupted runs: the claim of exact equality rests on the backend being deterministic.
    const first = join(root, "uninterrupted-1")
    const whole = await runSimclr(args(first), { cwd: root })
    expect({ code: whole.code, stderr: whole.stderr }).toMatchObject({ code: 0 })
    const reference = readMetrics(first).map(computed)
    expect(reference.map((m) => m.step)).toEqual(Array.from({ length: STEPS }, (_v, i) => i + 1))
    // The second run also times the start-up (spawn to the first step's metrics) and a step, which
    // scale the seeded kill moments.
    const second = join(root, "uninterrupted-2")
    const t0 = performance.now()
    const child = startSimclr(args(second), { cwd: root })
    await until(child, () => lines(second) >= 1)
    const startupMs = performance.now() - t0
    expect((await child.exit).code).toBe(0)
    const stepMs = (performance.now() - t0 - startupMs) / (STEPS - 1)
    expect(readMetrics(second).map(computed)).toEqual(reference)
    console.log(`two uninterrupted runs: identical metrics over ${STEPS} steps (loss ${reference[0]!.loss.toFixed(4)} → ${reference.at(-1)!.loss.toFixed(4)}); start-up ${(startupMs / 1000).toFixed(1)} s, ${(stepMs / 1000).toFixed(2)} s a step`)

    // The kills: the first at start-up in an empty folder, the other nine in seeded order and moments.
    const random = seededRandom(15)
    const rest: Array<Kill["target"]> = ["start-up", "start-up", "training step", "training step", "training step", "training step", "checkpoint write", "checkpoint write", "checkpoint write"]
    for (let i = rest.length - 1; i > 0; i--) {
      const j = Math.floor(random.uniform() * (i + 1))
      ;[rest[i], rest[j]] = [rest[j]!, rest[i]!]
    }
    const out = join(root, "killed")
    mkdirSync(out)
    const kills: Array<Kill> = []
    for (const target of ["start-up" as const, ...rest]) {
      const linesBefore = lines(out)
      const begun = performance.now()
      const victim = startSimclr(args(out), { cwd: root })
      const reached = await reach(target, victim, out, linesBefore, random, { startupMs, stepMs })
      expect({ target, reached, output: reached ? "" : victim.output() }).toMatchObject({ reached: true })
      const msAfterStart = performance.now() - begun
      process.kill(victim.pid, "SIGKILL")
      const { signal } = await victim.exit
      kills.push({ target, phase: phaseOf(out, victim.pid, linesBefore), msAfterStart, linesBefore, linesAfter: lines(out), checkpointsOnDisk: await loadEach(out), signal })
    }
    console.table(kills.map((k, i) => ({ kill: i + 1, target: k.target, "observed phase": k.phase, "ms after spawn": Math.round(k.msAfterStart), "metrics lines": `${k.linesBefore} → ${k.linesAfter}`, "checkpoints on disk (all load)": k.checkpointsOnDisk.join(" ") })))
    expect(kills.map((k) => k.signal)).toEqual(Array.from({ length: 10 }, () => "SIGKILL"))
    // The kills landed in every phase (the phase is read from what the process left on disk).
    for (const phase of ["start-up", "training step", "checkpoint write"]) expect(kills.map((k) => k.phase)).toContain(phase)

    const finish = await runSimclr(args(out), { cwd: root })
    expect({ code: finish.code, stderr: finish.stderr }).toMatchObject({ code: 0 })
    expect(finish.stdout).toMatch(/resuming from .*step-\d{8} \(step \d+\)/)
    expect(JSON.parse(readFileSync(join(out, "results.json"), "utf8"))).toMatchObject({ steps: STEPS, ending: "completed", backend: backend.name })

    // metrics.jsonl: every line parses; a step done again after a kill appears once per time it was
    // done, and every time with the uninterrupted run's numbers, exactly.
    const resumed = readMetrics(out).map(computed)
    expect([...new Set(resumed.map((m) => m.step))].toSorted((a, b) => a - b)).toEqual(reference.map((m) => m.step))
    expect(resumed).toEqual(resumed.map((m) => reference[m.step - 1]))
    // The checkpoints left are the uninterrupted run's, byte for byte, and load.
    const names = readdirSync(join(out, "checkpoints")).toSorted()
    expect(names).toEqual(readdirSync(join(first, "checkpoints")).toSorted())
    for (const name of names) {
      for (const file of ["checkpoint.json", "tensors.bin"]) {
        expect(readFileSync(join(out, "checkpoints", name, file)).equals(readFileSync(join(first, "checkpoints", name, file))), `${name}/${file}`).toBe(true)
      }
    }
    expect(await loadEach(out)).toEqual([STEPS - 4, STEPS - 2, STEPS])
    expect(Option.getOrThrow(await Effect.runPromise(readLatestCheckpoint(join(out, "checkpoints")))).step).toBe(STEPS)
    expect(temporaryFiles(out)).toEqual([])
    const seconds = (performance.now() - started) / 1000
    console.log(
      `kill/resume on ${backend.name}: ${kills.length} SIGKILLs (${["start-up", "training step", "checkpoint write", "checkpoint pruning", "config/results write"].map((p) => `${kills.filter((k) => k.phase === p).length} ${p}`).join(", ")}), ` +
        `${resumed.length - STEPS} steps done twice, ${STEPS} steps equal to the uninterrupted run's, ${names.length} checkpoints byte-identical; ${seconds.toFixed(0)} s in all`
    )
  })
})
