/** Walking a tfjs-layers model's layer tree and pairing the weights of two models of one architecture. */
import type * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import { describe, InvalidArgumentError } from "@simclr/core"

type Layer = tfl.layers.Layer

const shapeOf = (shape: ReadonlyArray<number | null>): string => `[${shape.join(", ")}]`

/** Asserts a tfjs-layers model (checked by shape, so a model from a second copy of tfjs-layers passes). */
export function assertModel(name: string, value: unknown): asserts value is tfl.LayersModel {
  const m = value as Partial<Record<"getConfig" | "getClassName" | "layers" | "weights", unknown>> | null
  const ok =
    typeof value === "object" &&
    m !== null &&
    typeof m.getConfig === "function" &&
    typeof m.getClassName === "function" &&
    Array.isArray(m.layers) &&
    Array.isArray(m.weights)
  if (!ok) throw new InvalidArgumentError(name, `expected a tfjs-layers model (tf.LayersModel, e.g. from tfl.model or tfl.sequential), got ${describe(value)}`)
}

const childrenOf = (layer: Layer): ReadonlyArray<Layer> | undefined => {
  const children = (layer as Layer & { readonly layers?: unknown }).layers
  return Array.isArray(children) ? (children as ReadonlyArray<Layer>) : undefined
}

/**
 * Every layer of the tree, each once (a nested model is a layer whose `layers` are visited too), in
 * the models' own deterministic order, so two models built from one config list them alike.
 */
export const allLayers = (model: tfl.LayersModel): Array<Layer> => {
  const seen = new Set<Layer>()
  const out: Array<Layer> = []
  const visit = (layer: Layer): void => {
    if (seen.has(layer)) return
    seen.add(layer)
    out.push(layer)
    for (const child of childrenOf(layer) ?? []) visit(child)
  }
  visit(model)
  return out
}

/** The layers that own weights (not containers). */
const weightLayers = (model: tfl.LayersModel): Array<Layer> =>
  allLayers(model).filter((l) => childrenOf(l) === undefined && l.weights.length > 0)

/** The underlying `tf.Variable` of a layer weight, or a named error when it is disposed. */
export const variableOf = (name: string, weight: tfl.LayerVariable): tf.Variable => {
  try {
    return weight.read() as tf.Variable
  } catch {
    throw new InvalidArgumentError(name, `is disposed (its weight ${weight.originalName} is)`)
  }
}

/**
 * Pairs every weight of `online` with its counterpart in `target`: layer by layer in the tree's order
 * (same class), then by name within a layer. Model-level `weights` order cannot be used: it lists
 * trainable weights first, so a non-trainable copy orders the same weights differently. Throws,
 * naming `targetName`, unless both have the same layers with the same weight names, shapes and dtypes.
 */
export const pairWeights = (online: tfl.LayersModel, target: tfl.LayersModel, targetName: string): Array<readonly [tfl.LayerVariable, tfl.LayerVariable]> => {
  const a = weightLayers(online)
  const b = weightLayers(target)
  const mismatch = (what: string): never => {
    throw new InvalidArgumentError(targetName, `does not have the online model's architecture: ${what}`)
  }
  if (a.length !== b.length) mismatch(`${b.length} layers with weights, the online model has ${a.length}`)
  const pairs: Array<readonly [tfl.LayerVariable, tfl.LayerVariable]> = []
  a.forEach((la, i) => {
    const lb = b[i]!
    if (la.getClassName() !== lb.getClassName()) mismatch(`layer ${lb.name} is a ${lb.getClassName()} where the online model has ${la.name}, a ${la.getClassName()}`)
    const wa = la.weights
    const wb = lb.weights
    if (wa.length !== wb.length) mismatch(`layer ${lb.name} has ${wb.length} weights, ${la.name} has ${wa.length}`)
    const byName = new Map(wb.map((w) => [w.originalName, w] as const))
    const unique = byName.size === wb.length && new Set(wa.map((w) => w.originalName)).size === wa.length
    wa.forEach((w, j) => {
      const v = unique ? byName.get(w.originalName) : wb[j]
      if (v === undefined) return mismatch(`layer ${lb.name} has no weight ${w.originalName}`)
      if (v.shape.join() !== w.shape.join() || v.dtype !== w.dtype) {
        mismatch(`weight ${v.originalName} is ${v.dtype} ${shapeOf(v.shape)}, the online model's ${w.originalName} is ${w.dtype} ${shapeOf(w.shape)}`)
      }
      pairs.push([w, v])
    })
  })
  return pairs
}
