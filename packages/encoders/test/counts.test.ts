/**
 * Parameter counts of every row of the README table, on built models (no forward pass), each checked
 * three ways: the exact number written in the README, the count from the architecture by hand
 * (test/reference.ts `countParameters`), and, where they exist, torchvision's count or the papers'
 * rounded figure. Two conventions: trainable parameters (torchvision's `parameters()`, the README's
 * main column) and all variables, BN moving mean and variance included (`model.countParams()`).
 *
 * Building is what costs: the initialisers draw ~800M truncated normals for ResNet-152 3× + SK (about
 * 45 s and 3.2 GB on the cpu backend); the whole file takes about two and a half minutes.
 */
import * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import { useLeakCheck } from "@simclr/test-utils"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
// Counts do not depend on the backend, and the largest model's 3.2 GB of weights would not fit in the
// wasm backend's 4 GiB heap beside the rest: this file builds on cpu under any suite backend.
import "@tensorflow/tfjs-backend-cpu"
import { resnet, type ResNetConfig } from "../src/index.ts"
import { countParameters } from "./reference.ts"

const trainableOf = (m: tfl.LayersModel): number => m.trainableWeights.reduce((s, w) => s + (w.shape as Array<number>).reduce((a, b) => a * b, 1), 0)

const countsOf = (config: ResNetConfig): { trainable: number; all: number } => {
  const m = resnet(config)
  try {
    return { trainable: trainableOf(m), all: m.countParams() }
  } finally {
    m.dispose()
  }
}

let suiteBackend = "cpu"
beforeAll(async () => {
  suiteBackend = tf.getBackend()
  await tf.setBackend("cpu")
})
afterAll(async () => {
  await tf.setBackend(suiteBackend)
})

const millions = (n: number): number => Math.round(n / 1e6)

interface Row {
  readonly label: string
  readonly config: ResNetConfig & { readonly depth: 18 | 34 | 50 | 101 | 152 | 200 }
  /** The README's numbers. */
  readonly trainable: number
  readonly all: number
  /** torchvision's `sum(p.numel() for p in resnetNN().parameters())` minus the fc layer. */
  readonly torchvision?: number
  /** SimCLR v1 Table 6 (trainable, rounded) or the v2 table (all variables, rounded), in millions. */
  readonly v1?: number
  readonly v2?: number
}

const ROWS: ReadonlyArray<Row> = [
  { label: "ResNet-18", config: { depth: 18 }, trainable: 11_176_512, all: 11_186_112, torchvision: 11_176_512 },
  { label: "ResNet-34", config: { depth: 34 }, trainable: 21_284_672, all: 21_301_696, torchvision: 21_284_672 },
  { label: "ResNet-50", config: { depth: 50 }, trainable: 23_508_032, all: 23_561_152, torchvision: 23_508_032, v1: 24, v2: 24 },
  { label: "ResNet-101", config: { depth: 101 }, trainable: 42_500_160, all: 42_605_504, torchvision: 42_500_160, v2: 43 },
  { label: "ResNet-152", config: { depth: 152 }, trainable: 58_143_808, all: 58_295_232, torchvision: 58_143_808, v2: 58 },
  { label: "ResNet-200", config: { depth: 200 }, trainable: 62_624_832, all: 62_800_832 },
  { label: "ResNet-50 2×", config: { depth: 50, widthMultiplier: 2 }, trainable: 93_907_072, all: 94_013_312, v1: 94, v2: 94 },
  { label: "ResNet-50 4×", config: { depth: 50, widthMultiplier: 4 }, trainable: 375_378_176, all: 375_590_656, v1: 375 },
  { label: "ResNet-50 1× + SK", config: { depth: 50, skRatio: 0.0625 }, trainable: 35_215_584, all: 35_277_408, v2: 35 },
  { label: "ResNet-50 2× + SK", config: { depth: 50, widthMultiplier: 2, skRatio: 0.0625 }, trainable: 140_306_048, all: 140_428_864, v2: 140 },
  { label: "ResNet-101 2× + SK", config: { depth: 101, widthMultiplier: 2, skRatio: 0.0625 }, trainable: 257_132_224, all: 257_377_984, v2: 257 },
  { label: "ResNet-152 2× + SK", config: { depth: 152, widthMultiplier: 2, skRatio: 0.0625 }, trainable: 353_398_528, all: 353_752_896, v2: 354 },
  { label: "ResNet-152 3× + SK", config: { depth: 152, widthMultiplier: 3, skRatio: 0.0625 }, trainable: 794_704_160, all: 795_235_360, v2: 795 }
]

describe("parameter counts of every README row", () => {
  useLeakCheck()

  for (const row of ROWS) {
    it(`${row.label}: ${row.trainable.toLocaleString("en")} trainable, ${row.all.toLocaleString("en")} with BN statistics`, { timeout: 300_000 }, () => {
      const built = countsOf(row.config)
      expect(built).toEqual({ trainable: row.trainable, all: row.all })
      expect(countParameters(row.config)).toEqual(built)
    })
  }

  // The README numbers, which the tests above check on built models, against outside figures.
  it("the five torchvision depths have exactly torchvision's trainable counts", () => {
    const rows = ROWS.filter((r) => r.torchvision !== undefined)
    expect(rows.map((r) => r.label)).toEqual(["ResNet-18", "ResNet-34", "ResNet-50", "ResNet-101", "ResNet-152"])
    expect(rows.map((r) => r.trainable)).toEqual(rows.map((r) => r.torchvision))
  })
})

describe("which convention the papers' rounded sizes use", () => {
  useLeakCheck()

  it("v2's table matches all variables in every row; trainable counts miss ResNet-152 2× + SK (353 vs 354)", () => {
    const v2 = ROWS.filter((r) => r.v2 !== undefined)
    expect(v2.map((r) => r.v2)).toEqual([24, 43, 58, 94, 35, 140, 257, 354, 795])
    expect(v2.filter((r) => millions(r.all) !== r.v2).map((r) => r.label)).toEqual([])
    expect(v2.filter((r) => millions(r.trainable) !== r.v2).map((r) => [r.label, millions(r.trainable)])).toEqual([["ResNet-152 2× + SK", 353]])
  })

  it("v1's Table 6 matches trainable counts; all variables miss ResNet-50 4× (376 vs 375)", () => {
    const v1 = ROWS.filter((r) => r.v1 !== undefined)
    expect(v1.map((r) => r.v1)).toEqual([24, 94, 375])
    expect(v1.filter((r) => millions(r.trainable) !== r.v1).map((r) => r.label)).toEqual([])
    expect(v1.filter((r) => millions(r.all) !== r.v1).map((r) => [r.label, millions(r.all)])).toEqual([["ResNet-50 4×", 376]])
  })
})

describe("counts of the other options", () => {
  useLeakCheck()

  it("the official shortcut rule adds a projection to ResNet-18's first group (64·64 + 2·64 parameters)", () => {
    const official = countsOf({ depth: 18, shortcut: "official" })
    expect(official.trainable - 11_176_512).toBe(64 * 64 + 2 * 64)
    expect(official).toEqual(countParameters({ depth: 18, shortcut: "official" }))
  })

  it("CIFAR stem, SE and SK on small widths agree with the hand count", () => {
    for (const config of [
      { depth: 18, stem: "cifar" },
      { depth: 34, seRatio: 0.25, baseWidth: 8 },
      { depth: 50, stem: "cifar", skRatio: 0.0625, seRatio: 0.25, baseWidth: 8 },
      { depth: 101, skRatio: 0.25, baseWidth: 16, blocksPerGroup: [1, 2, 3, 1] }
    ] as const) {
      expect(countsOf(config)).toEqual(countParameters(config))
    }
  })
})
