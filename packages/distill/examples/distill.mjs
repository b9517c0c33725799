// Self-distillation on random images with @simclr/distill, tfjs-core, tfjs-layers and the cpu backend
// only: a teacher (here a tiny random ResNet standing in for a fine-tuned one) labels unlabeled images
// with its softened predictions; a narrower student learns from them, with a few labeled images mixed
// in (α = 0.3) and the least confident images dropped.
// Run: node examples/distill.mjs (from packages/distill, after `npm run build`).
import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import { assertSameClasses, distillLoss, distillMetrics, studentFrom, teacherTargets } from "@simclr/distill"

await tf.setBackend("cpu")
tf.env().set("PROD", true)

const classes = 4
const encoder = { depth: 18, stem: "cifar", inputShape: [16, 16, 3], baseWidth: 8, blocksPerGroup: [1, 1, 1, 1] }
const teacher = studentFrom({ encoder, numClasses: classes, seed: 1, name: "teacher" })
// Big-to-small: half the width. (Self-distillation: the teacher's own encoder config.)
const student = studentFrom({ encoder: { ...encoder, baseWidth: 4 }, numClasses: classes, seed: 2 })
assertSameClasses(teacher, student)
// A fine-tuned teacher is confident; a fresh head (N(0, 0.01²)) is not, so give this one a larger head.
tf.tidy(() => {
  const kernel = teacher.weights.find((w) => w.originalName === "head_supervised.dense/kernel")
  kernel.write(tf.randomNormal(kernel.shape, 0, 4, "float32", 3))
})

// 64 unlabeled images in [0, 1], seeded; the first 8 also carry a label (−1 = unlabeled).
const images = tf.randomUniform([64, 16, 16, 3], 0, 1, "float32", 7)
const temperature = 1
// The teacher's targets, once, in inference mode, 32 images at a time: [64, 4] probabilities.
const targets = teacherTargets(teacher, images, { temperature, batchSize: 32 })
const allLabels = Int32Array.from({ length: 64 }, (_, i) => (i < 8 ? i % classes : -1))

const optimizer = tf.train.adam(3e-3)
const weights = student.trainableWeights.map((w) => w.read())
const batchSize = 16
const losses = []
for (let step = 0; step < 40; step++) {
  const start = (step * batchSize) % 64
  const x = tf.slice(images, [start, 0, 0, 0], [batchSize, -1, -1, -1])
  const t = tf.slice(targets, [start, 0], [batchSize, -1])
  const options = { temperature, alpha: 0.3, labels: allLabels.subarray(start, start + batchSize), confidenceThreshold: 0.5 }
  let logits
  const loss = optimizer.minimize(() => {
    const out = student.apply(x, { training: true })
    logits = tf.keep(out)
    return distillLoss(out, t, options)
  }, true, weights)
  losses.push(loss.dataSync()[0])
  if (step % 10 === 0 || step === 39) {
    const m = distillMetrics(logits, t, options)
    console.log(`step ${step}: loss ${losses.at(-1).toFixed(4)}, kept ${m.kept}/${m.images}, agreement ${m.agreement.toFixed(2)}, labeled ${m.labeled}, ${tf.memory().numTensors} tensors`)
  }
  tf.dispose([x, t, loss, logits])
}

// The student against the teacher on all 64 images (inference mode).
const final = tf.tidy(() => student.predict(images))
const { agreement } = distillMetrics(final, targets, { temperature })
console.log(`student agrees with the teacher on ${(agreement * 100).toFixed(0)} % of the images`)
const result = { firstLoss: losses[0], lastLoss: losses.at(-1), agreement }

tf.dispose([final, targets, images])
optimizer.dispose()
teacher.dispose()
student.dispose()
console.log(JSON.stringify({ ...result, tensorsLeft: tf.memory().numTensors }))
