/**
 * The tiny pre-training recipe the tests share: a ResNet-18 with one basic block per group, 4 channels
 * wide, on 8×8 images, a few hundred ms per step on cpu. Each test file spreads it and changes what it
 * tests (batch, epochs, head, optimiser, checkpoints).
 */
import { augmentPresets } from "@simclr/augment"
import { synthetic } from "@simclr/data-stream"
import type { PretrainConfig } from "../src/index.ts"

export const tinyConfig: PretrainConfig = {
  imageSize: 8,
  batchSize: 4,
  epochs: 2,
  seed: 3,
  temperature: 0.5,
  encoder: { depth: 18, stem: "cifar", baseWidth: 4, blocksPerGroup: [1, 1, 1, 1], seed: 1 },
  head: { numLayers: 2, outputDim: 8, seed: 2 },
  optimizer: { name: "lars", learningRate: 1, scaling: "linear", weightDecay: 1e-4, warmupEpochs: 1 },
  augment: { ...augmentPresets.cifar10(), size: [8, 8] },
  checkpointEvery: 2,
  keepCheckpoints: 2
}

/** `size` synthetic 8×8 images (seed 4). */
export const tinySource = (size: number) => synthetic({ size, seed: 4, imageSize: 8 })
