#!/usr/bin/env node
/**
 * The `simclr` command: `demo`, `pretrain`, `linear-eval`, `knn`, `finetune`, `distill`, `embed` and `export`. Each
 * command is a thin shell over the exported functions.
 *
 * @since 0.1.0
 */
import type { DataStreamError, Source } from "@simclr/data-stream"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { Command, Flag } from "effect/cli"
import { resnet, saveModel } from "@simclr/encoders"
import { mkdir, readFile, writeFile } from "node:fs/promises"
import { parse as parseYaml } from "yaml"
import { dirname, join } from "node:path"
import { type BackendChoice, InvalidBackendOptionError, selectBackend } from "./backend.ts"
import { nodeServices } from "./cli/nodeServices.ts"
import { decodePretrainConfig, InvalidConfigError, PRESET_IDS, type PresetId, pretrainPresets, v2Defaults } from "./config.ts"
import { demo, formatDemoTable } from "./demo.ts"
import { type Accuracy, knnEvaluate, linearEvaluate } from "./evaluate.ts"
import { extractFeatures, type Features } from "./extractFeatures.ts"
import { distill } from "./distill.ts"
import type { DistillConfig } from "./distillObjective.ts"
import { finetune, finetuneDefaults } from "./finetune.ts"
import { concatSources, withoutLabels } from "./internal/sources.ts"
import { readFinetuned } from "./loadFinetuned.ts"
import type { LoopMetrics } from "./trainLoop.ts"
import { buildRun, outputProblem, readRun, readRunConfig, requireRunFolder, type SavedRun, writeProblem } from "./loadRun.ts"
import { labelSubset } from "./labelSubset.ts"
import { buildSimclrModel, pretrain, type PretrainConfig, RunFolderError, type StepMetrics } from "./pretrain.ts"
import { pathProblem, resolveData } from "./resolveData.ts"
import { writeNpy } from "./writeNpy.ts"

const backendFlag = Flag.Literals("backend", ["auto", "tensorflow", "onednn", "wasm", "cpu"]).pipe(
  Flag.withDefault("auto" as const),
  Flag.withDescription("tfjs backend; auto takes @tensorflow/tfjs-node-gpu, then -node, then @simclr/backend-onednn (native CPU kernels, where oneDNN was found at install), then wasm, then cpu (default auto)")
)

const threadsFlag = Flag.Int("threads").pipe(
  Flag.optional,
  Flag.withDescription("threads for the wasm backend, 1-8 (default: every core)")
)

const useBackend = (choice: BackendChoice, threads: { readonly _tag: "Some"; readonly value: number } | { readonly _tag: "None" }) =>
  Effect.gen(function*() {
    const wasmThreads = pick(threads)
    const selected = yield* selectBackend(choice, wasmThreads === undefined ? {} : { wasmThreads }).pipe(
      // The library names its option; a CLI user typed --threads.
      Effect.mapError((e) => (e._tag === "InvalidBackendOptionError" ? new InvalidBackendOptionError({ option: "--threads", reason: e.reason }) : e))
    )
    tf.env().set("PROD", true)
    yield* Effect.log(`backend: ${selected.name} (${selected.package}; ${selected.reason})`)
  })

/** A text file a flag names, parsed; one that cannot be read or parsed is an `InvalidConfigError` naming the flag, the path and what was expected. */
const readTextFile = <A>(path: string, flag: string, expected: string, parse: (text: string) => A): Effect.Effect<A, InvalidConfigError> => {
  const invalid = (issues: string) => new InvalidConfigError({ source: `${flag} ${path}`, issues })
  return Effect.tryPromise({ try: () => readFile(path, "utf8"), catch: (e) => invalid(`${pathProblem(e)}; expected ${expected}`) }).pipe(
    Effect.flatMap((text) => Effect.try({ try: () => parse(text), catch: (e) => invalid(`is not ${expected}: ${(e instanceof Error ? e.message : String(e)).trimEnd()}`) }))
  )
}

/** A config file's keys: JSON, or YAML by the extension; an empty file has none. */
const parseConfigFile = (path: string) => (text: string): Record<string, unknown> => {
  const parsed: unknown = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text)
  if (parsed === null || parsed === undefined) return {}
  if (typeof parsed !== "object" || Array.isArray(parsed)) throw new Error(`it holds ${Array.isArray(parsed) ? "a list" : `a ${typeof parsed}`}, not a mapping of config keys`)
  return parsed as Record<string, unknown>
}

/** `--out` of a command that writes a file or a folder of files, checked before any work (see `outputProblem`). */
const requireOutput = (path: string, expects: "file" | "folder", expected: string): Effect.Effect<void, InvalidConfigError> =>
  Effect.flatMap(Effect.promise(() => outputProblem(path, expects)), (problem) =>
    problem === undefined ? Effect.void : Effect.fail(new InvalidConfigError({ source: `--out ${path}`, issues: `${problem}; expected ${expected}` })))

const LABELED = "labeled data (class sub-folders, a CSV with labels, IDX or CIFAR labels)"

/** The source a flag names, which must have labels: `task` ("evaluation", "fine-tuning") needs them. */
const labeledData = (flag: string, spec: string, split: "train" | "test", imageSize: number, task: string) =>
  Effect.flatMap(resolveData(spec, { split, imageSize }), (source) =>
    source.classes === undefined
      ? Effect.fail(new InvalidConfigError({ source: `${flag} ${spec}`, issues: `has no labels; ${task} needs ${LABELED}` }))
      : Effect.succeed(source))

/** Flags that override a config value, only when given. */
const optionalInt = (name: string, description: string) => Flag.Int(name).pipe(Flag.optional, Flag.withDescription(description))
const optionalNumber = (name: string, description: string) => Flag.Finite(name).pipe(Flag.optional, Flag.withDescription(description))

/** The value of an optional flag, or undefined. */
const pick = <A>(o: { readonly _tag: "Some"; readonly value: A } | { readonly _tag: "None" }): A | undefined => (o._tag === "Some" ? o.value : undefined)

const duration = (seconds: number): string => {
  const s = Math.round(seconds)
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`
}

/** One progress line; the ETA comes from the recent images/s and the steps left. */
const progressLine = (m: StepMetrics, total: number | undefined, batchSize: number): string => {
  const eta = total === undefined || m.imagesPerSecond <= 0 ? "" : `  ETA ${duration(((total - m.step) * batchSize) / m.imagesPerSecond)}`
  const probe = m.probeAccuracy === undefined ? "" : `  probe ${m.probeAccuracy.toFixed(3)}`
  return `epoch ${m.epoch} step ${m.step}${total === undefined ? "" : `/${total}`}  loss ${m.loss.toFixed(4)}  acc ${m.contrastiveAccuracy.toFixed(3)}${probe}  lr ${m.learningRate.toExponential(2)}  ${m.imagesPerSecond.toFixed(1)} img/s${eta}`
}

/**
 * Runs `run` with Ctrl-C wired to a clean stop (checkpoint, then exit) and a progress line: rewritten in
 * place on a terminal, every 10 steps otherwise.
 */
const withProgress = <A, E, R, M extends { readonly step: number } = StepMetrics>(
  config: Pick<PretrainConfig, "batchSize" | "epochs" | "trainSteps" | "maxSteps">,
  stepsPerEpoch: number | undefined,
  run: (progress: { readonly shouldStop: () => boolean; readonly onStep: (m: M) => void }) => Effect.Effect<A, E, R>,
  format: (m: M, total: number | undefined, batchSize: number) => string = progressLine as unknown as (m: M, total: number | undefined, batchSize: number) => string
): Effect.Effect<A, E, R> => {
  let stop = false
  const onSigint = () => {
    if (stop) process.exit(130)
    stop = true
    process.stderr.write("\nstopping after this step (Ctrl-C again to quit at once)…\n")
  }
  const tty = process.stderr.isTTY === true
  const total = stepsPerEpoch === undefined && config.trainSteps === undefined
    ? undefined
    : Math.min(config.trainSteps ?? (stepsPerEpoch ?? 0) * config.epochs, config.maxSteps ?? Infinity)
  return Effect.acquireUseRelease(
    Effect.sync(() => process.on("SIGINT", onSigint)),
    () =>
      run({
        shouldStop: () => stop,
        onStep: (m) => {
          if (tty) process.stderr.write(`\r${format(m, total, config.batchSize)}   `)
          else if (m.step % 10 === 0 || m.step === 1) process.stderr.write(`${format(m, total, config.batchSize)}\n`)
        }
      }),
    () =>
      Effect.sync(() => {
        process.off("SIGINT", onSigint)
        if (tty) process.stderr.write("\n")
      })
  )
}

const demoCommand = Command.make(
  "demo",
  {
    out: Flag.String("out").pipe(Flag.withDefault("runs/demo"), Flag.withDescription("run folder; re-running resumes or re-scores (default runs/demo)")),
    epochs: optionalInt("epochs", `pre-training epochs (default ${pretrainPresets.demo().epochs})`),
    trainImages: Flag.Int("train-images").pipe(Flag.withDefault(5000), Flag.withDescription("synthetic images to pre-train on (default 5000)")),
    backend: backendFlag,
  threads: threadsFlag
  },
  (flags) =>
    Effect.gen(function*() {
      const epochs = pick(flags.epochs)
      const config = yield* decodePretrainConfig({ ...pretrainPresets.demo(), ...(epochs === undefined ? {} : { epochs }) }, "--epochs")
      yield* requireRunFolder(flags.out, "pretrain", "write")
      yield* useBackend(flags.backend, flags.threads)
      const result = yield* withProgress(config, Math.floor(flags.trainImages / config.batchSize), (progress) =>
        demo({ out: flags.out, config, trainImages: flags.trainImages, onPhase: (phase) => process.stderr.write(`${phase}…\n`), ...progress }))
      process.stdout.write(`\n${formatDemoTable(result)}\n\n`)
      yield* Effect.log(`demo finished in ${duration(result.seconds)} (pre-training ${duration(result.pretrain.seconds)}, ${result.pretrain.steps} steps); results in ${join(flags.out, "demo.json")}`)
    })
).pipe(Command.withDescription("Pre-train the demo preset on synthetic shapes, then compare it with random init and raw pixels"))

const pretrainCommand = Command.make(
  "pretrain",
  {
    data: Flag.String("data").pipe(Flag.withDefault("synthetic"), Flag.withDescription("a folder of images (sub-folders = classes, unused here), a glob, a CSV, an IDX or CIFAR file or folder, or synthetic[:count[:seed]] (default synthetic)")),
    out: Flag.String("out").pipe(Flag.withDefault("runs/simclr"), Flag.withDescription("run folder; re-running with it resumes (default runs/simclr)")),
    preset: Flag.Literals("preset", PRESET_IDS).pipe(Flag.withDefault("demo" as const), Flag.withDescription("recipe to start from (default demo)")),
    config: Flag.String("config").pipe(Flag.optional, Flag.withDescription("a JSON or YAML (.yaml/.yml) file whose fields override the preset")),
    epochs: optionalInt("epochs", "passes over the data"),
    batchSize: optionalInt("batch-size", "images per step (two views each)"),
    chunkSize: optionalInt("chunk-size", "images per encoder pass (GradCache: batches larger than memory; batch norm per chunk)"),
    imageSize: optionalInt("image-size", "input size of the encoder"),
    learningRate: optionalNumber("learning-rate", "base learning rate (scaled by the preset's rule)"),
    temperature: optionalNumber("temperature", "NT-Xent temperature"),
    trainSteps: optionalInt("train-steps", "the run's length in steps (official train_steps): overrides --epochs for the schedule and the end"),
    maxSteps: optionalInt("max-steps", "stop after this many steps"),
    seed: optionalInt("seed", "seed of the shuffles, augmentations and initialisation"),
    v2: Flag.Boolean("v2").pipe(Flag.withDefault(false), Flag.withDescription("SimCLR v2: a momentum network and a memory queue of its keys as extra negatives, and the 3-layer head (implied by the flags below)")),
    queueSize: optionalInt("queue-size", `v2: keys in the memory queue (default ${v2Defaults().queueSize})`),
    momentum: optionalNumber("momentum", `v2: the momentum network's decay m in [0, 1] (default ${v2Defaults().momentum})`),
    momentumSchedule: Flag.Literals("momentum-schedule", ["constant", "cosine"]).pipe(Flag.optional, Flag.withDescription("v2: constant m, or BYOL's cosine increase to 1 (default constant)")),
    positives: Flag.Literals("positives", ["online", "momentum"]).pipe(
      Flag.optional,
      Flag.withDescription("v2: online = NT-Xent with in-batch and queue negatives; momentum = MoCo's z1 against k2 and z2 against k1, queue negatives (default online)")
    ),
    backend: backendFlag,
  threads: threadsFlag
  },
  (flags) =>
    Effect.gen(function*() {
      // Everything the user typed is checked before a backend starts or a folder is touched.
      const preset = pretrainPresets[flags.preset as PresetId]()
      const configPath = pick(flags.config)
      const fromFile = configPath === undefined ? {} : yield* readTextFile(configPath, "--config", "a JSON or YAML (.yaml/.yml) config file", parseConfigFile(configPath))
      const overrides = Object.fromEntries(
        Object.entries({
          epochs: pick(flags.epochs),
          batchSize: pick(flags.batchSize),
          chunkSize: pick(flags.chunkSize),
          imageSize: pick(flags.imageSize),
          temperature: pick(flags.temperature),
          trainSteps: pick(flags.trainSteps),
          maxSteps: pick(flags.maxSteps),
          seed: pick(flags.seed)
        }).filter(([, v]) => v !== undefined)
      )
      const merged = { ...preset, ...fromFile, ...overrides } as Record<string, unknown>
      const learningRate = pick(flags.learningRate)
      if (learningRate !== undefined) merged["optimizer"] = { ...(merged["optimizer"] as object), learningRate }
      const v2Flags = Object.fromEntries(
        Object.entries({ queueSize: pick(flags.queueSize), momentum: pick(flags.momentum), momentumSchedule: pick(flags.momentumSchedule), positives: pick(flags.positives) }).filter(([, v]) =>
          v !== undefined
        )
      )
      if (flags.v2 || Object.keys(v2Flags).length > 0) {
        const existing = merged["v2"]
        // --v2 on a v1 recipe: the paper's 3-layer head too (unless the config file sets the head's depth).
        if (existing === undefined && (fromFile["head"] as { numLayers?: unknown } | undefined)?.numLayers === undefined) {
          merged["head"] = { ...(merged["head"] as object), numLayers: 3 }
        }
        merged["v2"] = { ...v2Defaults(), ...(typeof existing === "object" && existing !== null ? existing : {}), ...v2Flags }
      }
      const config = yield* decodePretrainConfig(merged, configPath === undefined ? "flags" : `${configPath} and flags`)
      yield* requireRunFolder(flags.out, "pretrain", "write")
      const source = yield* resolveData(flags.data, { imageSize: config.imageSize })
      yield* useBackend(flags.backend, flags.threads)
      const perEpoch = source._tag === "IndexedSource" ? Math.floor(source.size / config.batchSize) : undefined
      if (config.v2 !== undefined) {
        yield* Effect.log(
          `SimCLR v2: memory queue of ${config.v2.queueSize} keys, momentum ${config.v2.momentum} (${config.v2.momentumSchedule ?? "constant"}), positives ${config.v2.positives ?? "online"}, ${config.head.numLayers ?? 2}-layer head`
        )
      }
      const result = yield* withProgress(config, perEpoch, (progress) => pretrain(source, config, { out: flags.out, ...progress }))
      yield* Effect.log(`${result.ending}: ${result.steps} steps in ${result.seconds.toFixed(1)} s; checkpoint ${result.checkpoint ?? "none"}`)
    })
).pipe(Command.withDescription("Pre-train a SimCLR encoder on unlabeled images"))

const evalFlags = {
  run: Flag.String("run").pipe(Flag.withDefault("runs/simclr"), Flag.withDescription("a pretrain run folder (default runs/simclr)")),
  train: Flag.String("train").pipe(Flag.withDescription("labeled training data (same forms as pretrain --data; a dataset folder gives its train split)")),
  test: Flag.String("test").pipe(Flag.withDescription("labeled test data (a dataset folder gives its test split)")),
  output: Flag.Literals("output", ["h", "z"]).pipe(Flag.withDefault("h" as const), Flag.withDescription("features: h (encoder) or z (projection) (default h)")),
  labelFraction: optionalNumber("label-fraction", "train on this class-balanced share of the training labels, e.g. 0.01 (default all)"),
  baseline: Flag.Literals("baseline", ["none", "random-init", "raw-pixels"]).pipe(
    Flag.withDefault("none" as const),
    Flag.withDescription("score a baseline instead of the trained run: the run's encoder at its random initialisation, or raw pixels at the run's image size (default none)")
  ),
  backend: backendFlag,
  threads: threadsFlag
}

type Baseline = "none" | "random-init" | "raw-pixels"

/**
 * The run (its checkpoint too when it is scored) and the labeled sources `--train` and `--test` name,
 * checked before any work: a path that is not a pretrain run (with a checkpoint), not labeled data, or a
 * run folder the report cannot be written into is named with what was expected.
 */
const evalInputs = (run: string, trainSpec: string, testSpec: string, baseline: Baseline) =>
  Effect.gen(function*() {
    const saved: SavedRun | undefined = baseline === "none" ? yield* readRun(run) : undefined
    const config = saved?.config ?? (yield* readRunConfig(run))
    const unwritable = yield* Effect.promise(() => writeProblem(run))
    if (unwritable !== undefined) return yield* new RunFolderError({ path: run, reason: `${unwritable}; expected a writable pretrain run folder (the report is written into it)` })
    const train = yield* labeledData("--train", trainSpec, "train", config.imageSize, "evaluation")
    return { config, saved, train, test: yield* labeledData("--test", testSpec, "test", config.imageSize, "evaluation") }
  })

const featuresOf = (inputs: Effect.Success<ReturnType<typeof evalInputs>>, output: "h" | "z", baseline: Baseline, labelFraction: number | undefined) =>
  Effect.gen(function*() {
    const { config, saved } = inputs
    const size = config.imageSize
    // Raw pixels need no model; random init is the run's encoder rebuilt from its seeds, untrained.
    const loaded = saved !== undefined ? yield* buildRun(saved) : baseline === "random-init" ? { ...buildSimclrModel(config), step: 0 } : undefined
    const model = loaded === undefined ? (images: tf.Tensor4D): tf.Tensor => images : loaded.model
    const index = output === "h" ? 0 : 2
    const extract = (source: Source): Effect.Effect<Features, DataStreamError> => extractFeatures(model, source, { imageSize: size, output: index })
    const train = yield* extract(inputs.train)
    const test = yield* extract(inputs.test).pipe(Effect.ensuring(Effect.sync(() => loaded?.model.dispose())))
    if (train.labels === undefined || test.labels === undefined) {
      return yield* new InvalidConfigError({ source: "--train/--test", issues: "evaluation needs labeled data (class sub-folders, a CSV with labels, IDX or CIFAR labels)" })
    }
    const largest = train.labels.reduce((a, b) => Math.max(a, b), 0)
    const classes = Math.max(train.classes?.length ?? 0, largest + 1)
    const step = loaded?.step ?? 0
    if (labelFraction === undefined) return { train, test, step, classes }
    const kept = yield* Effect.try({
      try: () => labelSubset(train.labels!, { fraction: labelFraction }),
      catch: (e) => new InvalidConfigError({ source: "--label-fraction", issues: e instanceof Error ? e.message : String(e) })
    })
    const values = new Float32Array(kept.length * train.dim)
    kept.forEach((row, i) => values.set(train.values.subarray(row * train.dim, (row + 1) * train.dim), i * train.dim))
    const subset: Features = { ...train, values, count: kept.length, labels: Int32Array.from(kept, (row) => train.labels![row]!), ids: kept.map((row) => train.ids[row]!) }
    return { train: subset, test, step, classes }
  })

/** What an evaluation scored, for its report. */
const evalInfo = (flags: { readonly output: "h" | "z"; readonly baseline: Baseline; readonly labelFraction: { readonly _tag: "Some"; readonly value: number } | { readonly _tag: "None" } }, trainCount: number) => ({
  output: flags.baseline === "raw-pixels" ? "pixels" : flags.output,
  baseline: flags.baseline,
  labelFraction: pick(flags.labelFraction) ?? 1,
  trainImages: trainCount
})

/** The report's file name: linear-eval-h, knn-z-1pct, linear-eval-raw-pixels, … */
const reportName = (command: string, flags: Parameters<typeof evalInfo>[0]): string => {
  const fraction = pick(flags.labelFraction)
  return [command, flags.baseline === "raw-pixels" ? "raw-pixels" : flags.output, ...(flags.baseline === "random-init" ? ["random-init"] : []), ...(fraction === undefined ? [] : [`${+(fraction * 100).toFixed(3)}pct`])].join("-")
}

const report = (run: string, name: string, result: Accuracy & Record<string, unknown>) =>
  Effect.gen(function*() {
    yield* Effect.promise(() => writeFile(join(run, `${name}.json`), JSON.stringify(result, null, 2) + "\n"))
    yield* Effect.log(`${name}: top-1 ${(100 * result.top1).toFixed(2)} %, top-5 ${(100 * result.top5).toFixed(2)} % on ${result.count} images (written to ${join(run, `${name}.json`)})`)
  })

const linearEvalCommand = Command.make(
  "linear-eval",
  {
    ...evalFlags,
    epochs: Flag.Int("epochs").pipe(Flag.withDefault(100), Flag.withDescription("epochs of the linear classifier (default 100)")),
    batchSize: Flag.Int("batch-size").pipe(Flag.withDefault(512), Flag.withDescription("default 512")),
    learningRate: Flag.Finite("learning-rate").pipe(Flag.withDefault(0.1), Flag.withDescription("base rate, × batch/256 (default 0.1)")),
    standardize: Flag.Boolean("standardize").pipe(Flag.withDefault(false), Flag.withDescription("standardise each feature over the training set first (default off, as the official protocol)"))
  },
  (flags) =>
    Effect.gen(function*() {
      const inputs = yield* evalInputs(flags.run, flags.train, flags.test, flags.baseline)
      yield* useBackend(flags.backend, flags.threads)
      const { train, test, step, classes } = yield* featuresOf(inputs, flags.output, flags.baseline, pick(flags.labelFraction))
      const x = tf.tensor2d(train.values, [train.count, train.dim])
      const xt = tf.tensor2d(test.values, [test.count, test.dim])
      const accuracy = linearEvaluate(x, train.labels!, xt, test.labels!, { classes, epochs: flags.epochs, batchSize: flags.batchSize, learningRate: flags.learningRate, standardize: flags.standardize })
      tf.dispose([x, xt])
      yield* report(flags.run, reportName("linear-eval", flags), { ...accuracy, step, ...evalInfo(flags, train.count), epochs: flags.epochs, standardize: flags.standardize })
    })
).pipe(Command.withDescription("Linear evaluation: a linear classifier on frozen features (official protocol)"))

const knnCommand = Command.make(
  "knn",
  {
    ...evalFlags,
    k: Flag.Int("k").pipe(Flag.withDefault(200), Flag.withDescription("neighbours (default 200)")),
    temperature: Flag.Finite("temperature").pipe(Flag.withDefault(0.1), Flag.withDescription("vote temperature (default 0.1)"))
  },
  (flags) =>
    Effect.gen(function*() {
      const inputs = yield* evalInputs(flags.run, flags.train, flags.test, flags.baseline)
      yield* useBackend(flags.backend, flags.threads)
      const { train, test, step, classes } = yield* featuresOf(inputs, flags.output, flags.baseline, pick(flags.labelFraction))
      const x = tf.tensor2d(train.values, [train.count, train.dim])
      const xt = tf.tensor2d(test.values, [test.count, test.dim])
      const accuracy = knnEvaluate(x, train.labels!, xt, test.labels!, { k: flags.k, temperature: flags.temperature, classes })
      tf.dispose([x, xt])
      yield* report(flags.run, reportName("knn", flags), { ...accuracy, step, ...evalInfo(flags, train.count), k: flags.k })
    })
).pipe(Command.withDescription("kNN evaluation: weighted vote of the nearest training features (lightly's monitor)"))

const finetuneCommand = Command.make(
  "finetune",
  {
    run: evalFlags.run,
    data: Flag.String("data").pipe(Flag.withDescription("labeled training data (class folders, CSV, IDX, CIFAR, synthetic); a dataset folder gives its train split")),
    test: Flag.String("test").pipe(Flag.optional, Flag.withDescription("labeled test data for top-1/top-5 at the end")),
    out: Flag.String("out").pipe(Flag.optional, Flag.withDescription("output folder (default <run>/finetune)")),
    labelFraction: optionalNumber("label-fraction", "use this share of each class's labels, e.g. 0.01 or 0.1 (default all)"),
    labelsPerClass: optionalInt("labels-per-class", "or this many labels per class"),
    labelIds: Flag.String("label-ids").pipe(Flag.optional, Flag.withDescription("or a text file listing the labeled images, one id (file path, base name, or <source>#<index>) per line")),
    epochs: Flag.Int("epochs").pipe(Flag.withDefault(finetuneDefaults().epochs), Flag.withDescription(`default ${finetuneDefaults().epochs}`)),
    batchSize: Flag.Int("batch-size").pipe(Flag.withDefault(finetuneDefaults().batchSize), Flag.withDescription(`default ${finetuneDefaults().batchSize}`)),
    learningRate: Flag.Finite("learning-rate").pipe(Flag.withDefault(0.005), Flag.withDescription("LARS base rate, × √batch (official 1 %/10 % recipe; default 0.005)")),
    ftProjSelector: Flag.Int("ft-proj-selector").pipe(
      Flag.optional,
      Flag.withDescription("projection-head layer the classifier reads: 0 = h, 1 = first head layer (default 1 for a SimCLR v2 run, as the paper; 0 otherwise)")
    ),
    freezeUpTo: Flag.Int("freeze-up-to").pipe(Flag.withDefault(-1), Flag.withDescription("freeze the stem and groups up to this block: -1 none, 0 stem, 1-4 layer1-4 (default -1)")),
    seed: Flag.Int("seed").pipe(Flag.withDefault(0), Flag.withDescription("seeds the label subset, order and augmentation (default 0)")),
    backend: backendFlag,
  threads: threadsFlag
  },
  (flags) =>
    Effect.gen(function*() {
      // finetune reads the run again once the backend is up; this read refuses a run without a checkpoint first.
      const { imageSize, v2 } = (yield* readRun(flags.run)).config
      const chosenSelector = pick(flags.ftProjSelector)
      const ftProjSelector = chosenSelector ?? (v2 === undefined ? 0 : 1)
      if (chosenSelector === undefined && v2 !== undefined) {
        yield* Effect.log("a SimCLR v2 run: fine-tuning from the projection head's first layer (--ft-proj-selector 1, as the paper); pass --ft-proj-selector 0 to start from h")
      }
      const out = pick(flags.out) ?? join(flags.run, "finetune")
      yield* requireRunFolder(out, "finetune", "write")
      const source = yield* labeledData("--data", flags.data, "train", imageSize, "fine-tuning")
      const testSpec = pick(flags.test)
      const test = testSpec === undefined ? undefined : yield* labeledData("--test", testSpec, "test", imageSize, "fine-tuning")
      const fraction = pick(flags.labelFraction)
      const perClass = pick(flags.labelsPerClass)
      const idsFile = pick(flags.labelIds)
      const labelIds = idsFile === undefined ? undefined : yield* readTextFile(idsFile, "--label-ids", "a text file of image ids, one a line", (text) =>
        text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#")))
      yield* useBackend(flags.backend, flags.threads)
      const result = yield* finetune(flags.run, source, {
        ...finetuneDefaults(),
        epochs: flags.epochs,
        batchSize: flags.batchSize,
        seed: flags.seed,
        optimizer: { ...finetuneDefaults().optimizer, learningRate: flags.learningRate },
        ftProjSelector,
        freezeUpTo: flags.freezeUpTo,
        ...(fraction === undefined ? {} : { labelFraction: fraction }),
        ...(perClass === undefined ? {} : { labelsPerClass: perClass }),
        ...(labelIds === undefined ? {} : { labelIds })
      }, { out, ...(test === undefined ? {} : { test }) })
      yield* Effect.log(
        `fine-tuned on ${result.labeled} labeled images, ${result.steps} steps, train accuracy ${(100 * result.trainAccuracy).toFixed(1)} %${
          result.test === undefined ? "" : `; test top-1 ${(100 * result.test.top1).toFixed(2)} %, top-5 ${(100 * result.test.top5).toFixed(2)} % on ${result.test.count}`
        } (results in ${join(out, "results.json")})`
      )
    })
).pipe(Command.withDescription("Fine-tune the pre-trained encoder with a classifier on (a fraction of) the labels"))

/** One progress line of a distillation. */
const distillLine = (m: LoopMetrics, total: number | undefined, batchSize: number): string => {
  const eta = total === undefined || m.imagesPerSecond <= 0 ? "" : `  ETA ${duration(((total - m.step) * batchSize) / m.imagesPerSecond)}`
  const labeled = m["labeledAccuracy"] === undefined ? "" : `  labeled acc ${m["labeledAccuracy"].toFixed(3)}`
  const dropped = m["dropped"] === undefined || m["dropped"] === 0 ? "" : `  dropped ${m["dropped"]}`
  return `epoch ${m.epoch} step ${m.step}${total === undefined ? "" : `/${total}`}  loss ${m.loss.toFixed(4)}  agreement ${(m["agreement"] ?? 0).toFixed(3)}${labeled}${dropped}  lr ${m.learningRate.toExponential(2)}  ${m.imagesPerSecond.toFixed(1)} img/s${eta}`
}

/** A flag's value checked against a range: an `InvalidConfigError` naming the flag, its value and what it allows. */
const checkFlag = (flag: string, value: number, ok: boolean, allowed: string): Effect.Effect<void, InvalidConfigError> =>
  ok ? Effect.void : Effect.fail(new InvalidConfigError({ source: `${flag} ${value}`, issues: `must be ${allowed}` }))

const distillDefaults = { epochs: 2, batchSize: 256, temperature: 1, learningRate: 0.1 } as const

const distillCommand = Command.make(
  "distill",
  {
    teacher: Flag.String("teacher").pipe(Flag.withDescription("the teacher: a finetune output folder (written by simclr finetune)")),
    data: Flag.String("data").pipe(Flag.withDescription("the unlabeled images the teacher labels (same forms as pretrain --data; their labels, if any, are not used)")),
    labeled: Flag.String("labeled").pipe(Flag.optional, Flag.withDescription("labeled images added to the stream (labels kept; the teacher's classes), for --alpha")),
    alpha: Flag.Finite("alpha").pipe(Flag.withDefault(0), Flag.withDescription("weight in [0, 1] of the cross-entropy on the --labeled images (default 0: unlabeled only, the paper's main setting)")),
    studentWidth: optionalInt("student-width", "the student encoder's base width (channels of its first group; default the teacher's): a narrower student starts at random"),
    studentConfig: Flag.String("student-config").pipe(Flag.optional, Flag.withDescription("or a JSON or YAML file: the student's encoder config (@simclr/encoders resnet fields; default the teacher's)")),
    studentInit: Flag.Literals("student-init", ["random", "pretrained"]).pipe(
      Flag.withDefault("random" as const),
      Flag.withDescription("random, or pretrained: the teacher's pre-trained encoder (its pretrain run; needs the teacher's encoder config) (default random)")
    ),
    out: Flag.String("out").pipe(Flag.withDescription("run folder; re-running with it resumes")),
    test: Flag.String("test").pipe(Flag.optional, Flag.withDescription("labeled test data for the student's top-1/top-5 at the end")),
    epochs: Flag.Int("epochs").pipe(Flag.withDefault(distillDefaults.epochs), Flag.withDescription(`passes over the stream (default ${distillDefaults.epochs})`)),
    batchSize: Flag.Int("batch-size").pipe(Flag.withDefault(distillDefaults.batchSize), Flag.withDescription(`images per step (default ${distillDefaults.batchSize})`)),
    temperature: Flag.Finite("temperature").pipe(Flag.withDefault(distillDefaults.temperature), Flag.withDescription(`τ > 0 of the teacher's targets and the student's softmax (default ${distillDefaults.temperature}, the paper's)`)),
    scaleByTemperatureSquared: Flag.Boolean("scale-by-temperature-squared").pipe(Flag.withDefault(false), Flag.withDescription("multiply the distillation term by τ² (Hinton et al.; default off, the paper's formula)")),
    confidenceThreshold: Flag.Finite("confidence-threshold").pipe(Flag.withDefault(0), Flag.withDescription("drop images whose teacher's largest probability is below this, in [0, 1] (default 0: keep all)")),
    learningRate: Flag.Finite("learning-rate").pipe(Flag.withDefault(distillDefaults.learningRate), Flag.withDescription(`LARS base rate, × √batch, cosine decay, no warm-up (default ${distillDefaults.learningRate})`)),
    maxSteps: optionalInt("max-steps", "stop after this many steps"),
    seed: Flag.Int("seed").pipe(Flag.withDefault(0), Flag.withDescription("seeds the order, augmentation and the student's initialisation (default 0)")),
    backend: backendFlag,
    threads: threadsFlag
  },
  (flags) =>
    Effect.gen(function*() {
      // Everything the user typed is checked before a backend starts or a folder is touched.
      yield* checkFlag("--epochs", flags.epochs, flags.epochs >= 1, "an integer ≥ 1")
      yield* checkFlag("--batch-size", flags.batchSize, flags.batchSize >= 1, "an integer ≥ 1")
      yield* checkFlag("--temperature", flags.temperature, flags.temperature > 0, "a number > 0 (the paper's τ is 1)")
      yield* checkFlag("--alpha", flags.alpha, flags.alpha >= 0 && flags.alpha <= 1, "a number in [0, 1] (0: unlabeled images only)")
      yield* checkFlag("--confidence-threshold", flags.confidenceThreshold, flags.confidenceThreshold >= 0 && flags.confidenceThreshold <= 1, "a number in [0, 1] (0: keep every image)")
      yield* checkFlag("--learning-rate", flags.learningRate, flags.learningRate > 0, "a number > 0")
      const labeledSpec = pick(flags.labeled)
      if (flags.alpha > 0 && labeledSpec === undefined) {
        return yield* new InvalidConfigError({ source: `--alpha ${flags.alpha}`, issues: "mixes in the cross-entropy of labeled images: give them with --labeled <data>, or use --alpha 0" })
      }
      const width = pick(flags.studentWidth)
      const studentConfigPath = pick(flags.studentConfig)
      if (width !== undefined && studentConfigPath !== undefined) {
        return yield* new InvalidConfigError({ source: "--student-width and --student-config", issues: "give one of them: a width, or a whole encoder config" })
      }
      if (width !== undefined) yield* checkFlag("--student-width", width, width >= 1, "an integer ≥ 1 (channels of the student's first group)")
      const teacher = yield* readFinetuned(flags.teacher).pipe(Effect.mapError((e) => new InvalidConfigError({ source: `--teacher ${flags.teacher}`, issues: e.message })))
      const teacherEncoder = teacher.runConfig.encoder
      const fromFile = studentConfigPath === undefined
        ? undefined
        : yield* readTextFile(studentConfigPath, "--student-config", "a JSON or YAML (.yaml/.yml) encoder config", parseConfigFile(studentConfigPath))
      const encoder = (fromFile ?? (width === undefined ? teacherEncoder : { ...teacherEncoder, baseWidth: width })) as typeof teacherEncoder
      if (fromFile !== undefined) {
        // Built once here (and freed) so that a bad field is named before any work.
        yield* Effect.try({
          try: () => resnet({ ...encoder, inputShape: [teacher.runConfig.imageSize, teacher.runConfig.imageSize, 3] }).dispose(),
          catch: (e) => new InvalidConfigError({ source: `--student-config ${studentConfigPath}`, issues: e instanceof Error ? e.message : String(e) })
        })
      }
      const sameArchitecture = JSON.stringify({ ...encoder, seed: undefined }) === JSON.stringify({ ...teacherEncoder, seed: undefined })
      if (flags.studentInit === "pretrained" && !sameArchitecture) {
        return yield* new InvalidConfigError({
          source: `--student-init pretrained`,
          issues: `needs the teacher's encoder config (${JSON.stringify(teacherEncoder)}); the student's is ${JSON.stringify(encoder)}: start a narrower or shallower student with --student-init random`
        })
      }
      yield* requireRunFolder(flags.out, "distill", "write")
      const size = teacher.runConfig.imageSize
      const unlabeled = yield* resolveData(flags.data, { imageSize: size })
      let source: Source = unlabeled._tag === "IndexedSource" ? withoutLabels(unlabeled) : { ...unlabeled, classes: undefined }
      if (labeledSpec !== undefined) {
        const labeled = yield* labeledData("--labeled", labeledSpec, "train", size, "--alpha")
        if (labeled.classes!.length !== teacher.classes) {
          return yield* new InvalidConfigError({ source: `--labeled ${labeledSpec}`, issues: `has ${labeled.classes!.length} classes; the teacher predicts ${teacher.classes}: the labels must be the teacher's classes` })
        }
        if (unlabeled._tag !== "IndexedSource" || labeled._tag !== "IndexedSource") {
          return yield* new InvalidConfigError({ source: `--data ${flags.data} with --labeled ${labeledSpec}`, issues: "both must be random-access data (a folder, CSV, IDX, CIFAR, synthetic) to be read as one stream" })
        }
        source = concatSources(withoutLabels(unlabeled), labeled)
      }
      const testSpec = pick(flags.test)
      const test = testSpec === undefined ? undefined : yield* labeledData("--test", testSpec, "test", size, "scoring the student")
      const maxSteps = pick(flags.maxSteps)
      const config: DistillConfig = {
        teacher: flags.teacher,
        imageSize: size,
        batchSize: flags.batchSize,
        epochs: flags.epochs,
        seed: flags.seed,
        optimizer: { name: "lars", learningRate: flags.learningRate, scaling: "sqrt", weightDecay: 0, warmupEpochs: 0 },
        temperature: flags.temperature,
        alpha: flags.alpha,
        confidenceThreshold: flags.confidenceThreshold,
        scaleByTemperatureSquared: flags.scaleByTemperatureSquared,
        student: { encoder, init: flags.studentInit },
        ...(labeledSpec === undefined ? {} : { labeled: labeledSpec }),
        ...(maxSteps === undefined ? {} : { maxSteps })
      }
      yield* useBackend(flags.backend, flags.threads)
      const perEpoch = source._tag === "IndexedSource" ? Math.floor(source.size / config.batchSize) : undefined
      const result = yield* withProgress(config, perEpoch, (progress) => distill(source, config, { out: flags.out, ...progress, ...(test === undefined ? {} : { test }) }), distillLine)
      if (result.student === undefined) {
        yield* Effect.log(`${result.ending}: ${result.steps} steps; re-run the same command to resume`)
        return
      }
      yield* Effect.log(
        `distilled ${result.steps} steps (${result.ending}) in ${duration(result.seconds)}; student ${result.studentParameters} parameters, teacher ${result.teacherParameters}${
          result.test === undefined ? "" : `; test top-1 ${(100 * result.test.top1).toFixed(2)} %, top-5 ${(100 * result.test.top5).toFixed(2)} % on ${result.test.count}`
        }; student in ${result.student}, results in ${join(flags.out, "distill.json")}`
      )
    })
).pipe(Command.withDescription("Distil a fine-tuned teacher into a student on unlabeled images (SimCLR v2's third stage)"))

const embedCommand = Command.make(
  "embed",
  {
    run: evalFlags.run,
    data: Flag.String("data").pipe(Flag.withDescription("the images to embed (same forms as pretrain --data)")),
    out: Flag.String("out").pipe(Flag.withDefault("embeddings.npy"), Flag.withDescription("the .npy file; the ids go next to it as <name>.ids.txt (default embeddings.npy)")),
    output: evalFlags.output,
    backend: backendFlag,
  threads: threadsFlag
  },
  (flags) =>
    Effect.gen(function*() {
      const saved = yield* readRun(flags.run)
      const source = yield* resolveData(flags.data, { split: "test", imageSize: saved.config.imageSize })
      yield* requireOutput(flags.out, "file", "a path for the .npy file (and <name>.ids.txt next to it; missing folders are created)")
      yield* useBackend(flags.backend, flags.threads)
      const loaded = yield* buildRun(saved)
      const features = yield* extractFeatures(loaded.model, source, { imageSize: loaded.config.imageSize, output: flags.output === "h" ? 0 : 2 }).pipe(
        Effect.ensuring(Effect.sync(() => loaded.model.dispose()))
      )
      const idsPath = flags.out.replace(/\.npy$/, "") + ".ids.txt"
      yield* Effect.promise(async () => {
        await mkdir(dirname(flags.out), { recursive: true })
        await writeNpy(flags.out, features.values, [features.count, features.dim])
        await writeFile(idsPath, features.ids.join("\n") + "\n")
      })
      yield* Effect.log(`embedded ${features.count} images (${features.dim}-d ${flags.output}) → ${flags.out}, ids → ${idsPath}${features.skipped > 0 ? `; ${features.skipped} unreadable images skipped` : ""}`)
    })
).pipe(Command.withDescription("Write embeddings (h or z) of a folder as .npy plus an ids file"))

const exportCommand = Command.make(
  "export",
  {
    run: evalFlags.run,
    out: Flag.String("out").pipe(Flag.withDefault("export"), Flag.withDescription("folder for model.json and weight shards (default export)")),
    withHead: Flag.Boolean("with-head").pipe(Flag.withDefault(false), Flag.withDescription("export images → [h, ft, z] instead of the encoder alone")),
    backend: backendFlag,
  threads: threadsFlag
  },
  (flags) =>
    Effect.gen(function*() {
      const run = yield* readRun(flags.run)
      yield* requireOutput(flags.out, "folder", "a folder for model.json and its weight shards (created when missing), not a run folder")
      yield* useBackend(flags.backend, flags.threads)
      const loaded = yield* buildRun(run)
      const saved = yield* Effect.promise(() => saveModel(flags.withHead ? loaded.model : loaded.encoder, flags.out)).pipe(
        Effect.ensuring(Effect.sync(() => loaded.model.dispose()))
      )
      yield* Effect.log(`exported the ${flags.withHead ? "encoder + head" : "encoder"} of step ${loaded.step} to ${flags.out} (${saved.files.length} files, ${(saved.bytes / 1e6).toFixed(2)} MB): tf.loadLayersModel("…/model.json") in a browser or Node, after import "@simclr/encoders"${flags.withHead ? ' and "@simclr/heads"' : ""} (their layer registrations)`)
    })
).pipe(Command.withDescription("Save the trained encoder (or encoder + head) in the TF.js layers format for the browser"))

const app = Command.make("simclr").pipe(
  Command.withDescription("SimCLR for TensorFlow.js"),
  Command.withSubcommands([demoCommand, pretrainCommand, linearEvalCommand, knnCommand, finetuneCommand, distillCommand, embedCommand, exportCommand])
)

const main = Command.run(app, { version: "0.0.0" }).pipe(Effect.provide(nodeServices(process.argv.slice(2))))

Effect.runPromise(main).catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error)
  // effect/cli ends with "Help requested" both for --help and after printing a parse error.
  const asked = process.argv.slice(2).some((a) => ["--help", "-h", "--version", "-v"].includes(a))
  if (!/Help requested|Version requested/.test(message)) process.stderr.write(`simclr: ${message}\n`)
  process.exitCode = asked && /Help requested|Version requested/.test(message) ? 0 : 1
})
