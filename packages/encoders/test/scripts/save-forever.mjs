// Child process of saveModel.test.ts: saves a model to a folder over and over until it is killed,
// printing "ready" once built and "saved" after each complete save.
import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import { resnet, saveModel } from "@simclr/encoders"

const [dir, seed] = process.argv.slice(2)
await tf.setBackend("cpu")
const model = resnet({ depth: 50, baseWidth: 8, skRatio: 0.0625, seRatio: 0.25, seed: Number(seed) })
process.stdout.write("ready\n")
for (;;) {
  await saveModel(model, dir)
  process.stdout.write("saved\n")
}
