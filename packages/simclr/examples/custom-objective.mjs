// Your own objective on simclr's training loop: here a plain supervised classifier. The loop brings the
// run folder, batching, the learning-rate schedule, checkpoints and resume, metrics.jsonl, Ctrl-C and
// the NaN stop; the objective brings its network, its step and the tensors a checkpoint must hold.
// Run it twice: the second run resumes from the first one's checkpoint and finds nothing left to do.
import * as tf from "@tensorflow/tfjs"
import { synthetic, toTensors } from "@simclr/data-stream"
import { Effect } from "effect"
import { adam, disposeState, restoreCheckpoint, selectBackend, trainableWeights, trainLoop } from "simclr"

const out = process.argv[2] ?? "runs/custom-objective"

/** The objective: built by the loop once it knows the data (`info.classes`, `info.totalSteps`, …). */
const classifier = (info) => {
  const model = tf.sequential({
    name: "classifier",
    layers: [
      tf.layers.conv2d({ inputShape: [16, 16, 3], filters: 16, kernelSize: 3, strides: 2, activation: "relu", kernelInitializer: tf.initializers.heNormal({ seed: 1 }) }),
      tf.layers.conv2d({ filters: 32, kernelSize: 3, strides: 2, activation: "relu", kernelInitializer: tf.initializers.heNormal({ seed: 2 }) }),
      tf.layers.flatten({}),
      tf.layers.dense({ units: info.classes.length, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) })
    ]
  })
  const weights = trainableWeights(model)
  const optimizer = adam({ weightDecay: 0 })
  let state = optimizer.init(weights)
  return {
    name: "supervised",
    metricNames: ["accuracy"],
    step: (batch, { learningRate }) => {
      const { images, labels } = toTensors(batch)
      const { value, grads, correct } = tf.tidy(() => {
        let hits
        const { value: v, grads: g } = tf.variableGrads(() => {
          const logits = model.apply(images, { training: true })
          hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), "float32")))
          return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, info.classes.length), logits)
        }, Object.values(weights))
        return { value: v, grads: g, correct: hits }
      })
      const loss = value.dataSync()[0]
      const accuracy = correct.dataSync()[0] / batch.size
      // Optimisers are pure: they return new weights and a new state; the objective assigns and frees.
      const named = Object.fromEntries(Object.entries(weights).map(([name, w]) => [name, grads[w.name]]))
      const next = optimizer.update(weights, named, state, learningRate)
      for (const [name, w] of Object.entries(weights)) w.assign(next.weights[name])
      tf.dispose([images, labels, value, correct, ...Object.values(grads), ...Object.values(next.weights)])
      disposeState(state)
      state = next.state
      return { loss, metrics: { accuracy } }
    },
    // What a checkpoint holds: the model's weights and the optimiser's slots (add `objectiveTensors` for more).
    snapshot: () => ({ model, optimizerState: state }),
    restore: (checkpoint) => {
      const restored = restoreCheckpoint(checkpoint, model)
      disposeState(state)
      state = restored
    },
    dispose: () => {
      disposeState(state)
      model.dispose()
    }
  }
}

// The loop's part of the config (written to out/config.json; a folder resumes only with the same recipe).
const config = {
  imageSize: 16,
  batchSize: 32,
  epochs: 3,
  seed: 0,
  optimizer: { learningRate: 0.08, scaling: "linear", warmupEpochs: 0 }
}

const program = Effect.gen(function*() {
  yield* selectBackend("cpu")
  const result = yield* trainLoop(synthetic({ size: 512, imageSize: 16, seed: 1, color: "gray", maxRotation: 0 }), config, classifier, { out })
  console.log(JSON.stringify({ steps: result.steps, ending: result.ending, resumedFrom: result.resumedFrom ?? null, loss: result.last?.loss ?? null, accuracy: result.last?.accuracy ?? null }))
})
await Effect.runPromise(program)
