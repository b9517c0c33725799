import type { ViewConfig } from "./simclrView.ts"

/**
 * @since 0.1.0
 * @category models
 */
export type PresetName = "official" | "torchvision" | "cifar10" | "finetune" | "eval"

export const PRESET_NAMES: ReadonlyArray<PresetName> = ["official", "torchvision", "cifar10", "finetune", "eval"]

const square = (size: number | readonly [number, number]): readonly [number, number] => (typeof size === "number" ? [size, size] : size)

/**
 * The reference recipes as {@link ViewConfig}s (spread one to change a field).
 * - `official(size = 224)`: google-research/simclr `preprocess_for_train` + `batch_random_blur`: TF
 *   crop sampler, bicubic (TF), flip 0.5, colour strength 1 with TF semantics and multiplicative
 *   brightness, blur p 0.5 with one σ per batch and zero padding.
 * - `torchvision(size = 224)`: lightly / solo-learn `SimCLRTransform`: torchvision sampler, bilinear,
 *   torchvision colour semantics, blur p 0.5 with σ per image and reflect padding.
 * - `cifar10()`: the official CIFAR-10 recipe: 32 px, colour strength 0.5, no blur.
 * - `finetune(size = 224)`: the official fine-tuning / linear-eval training input: crop + flip only.
 * - `eval(size = 224)`: the official evaluation input: centre crop of 87.5 % (resize only at ≤ 32 px).
 *
 * @since 0.1.0
 * @category augmentations
 */
export const augmentPresets = {
  official: (size: number | readonly [number, number] = 224): ViewConfig => ({
    size: square(size),
    crop: { sampler: "tf", method: "bicubic", style: "tf" },
    flip: 0.5,
    color: { strength: 1, style: "tf", brightness: "multiplicative" },
    blur: { p: 0.5, sigma: [0.1, 2], padding: "zero", sigmaPer: "batch" }
  }),
  torchvision: (size: number | readonly [number, number] = 224): ViewConfig => ({
    size: square(size),
    crop: { sampler: "torchvision", method: "bilinear", style: "torchvision" },
    flip: 0.5,
    color: { strength: 1, style: "torchvision", brightness: "multiplicative" },
    blur: { p: 0.5, sigma: [0.1, 2], padding: "reflect", sigmaPer: "image" }
  }),
  cifar10: (): ViewConfig => ({
    size: [32, 32],
    crop: { sampler: "tf", method: "bicubic", style: "tf" },
    flip: 0.5,
    color: { strength: 0.5, style: "tf", brightness: "multiplicative" },
    blur: false
  }),
  finetune: (size: number | readonly [number, number] = 224): ViewConfig => ({
    size: square(size),
    crop: { sampler: "tf", method: "bicubic", style: "tf" },
    flip: 0.5,
    color: false,
    blur: false
  }),
  eval: (size: number | readonly [number, number] = 224): ViewConfig => ({
    size: square(size),
    crop: "center",
    flip: 0,
    color: false,
    blur: false
  })
} as const satisfies Record<PresetName, (size?: number) => ViewConfig>
