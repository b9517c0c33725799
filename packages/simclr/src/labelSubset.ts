/**
 * Class-balanced, seeded label subsets for semi-supervised fine-tuning (the "1 % / 10 % of the labels"
 * protocol of SimCLR), as plain index lists.
 *
 * @since 0.1.0
 */
import { Random } from "@simclr/core"

/**
 * @category models
 * @since 0.1.0
 */
export interface LabelSubsetOptions {
  /** Fraction of each class to keep, in (0, 1]: 0.01 and 0.1 are the paper's settings. */
  readonly fraction?: number
  /** Or: this many images of each class (classes with fewer keep all of theirs). */
  readonly perClass?: number
  /** Default 0. The same seed gives the same subset; a larger fraction's subset contains a smaller one's. */
  readonly seed?: number
}

/**
 * Indices of a class-balanced subset of labeled images: from every class, round(fraction × its count)
 * images (at least one), or `perClass` of them, drawn by a seeded shuffle of that class. Unlabeled
 * entries (label < 0) are never chosen. The result is sorted.
 *
 * @category fine-tuning
 * @since 0.1.0
 */
export const labelSubset = (labels: ArrayLike<number>, options: LabelSubsetOptions): Array<number> => {
  const { fraction, perClass } = options
  const seed = options.seed ?? 0
  if ((fraction === undefined) === (perClass === undefined)) throw new RangeError("labelSubset: give exactly one of fraction and perClass")
  if (fraction !== undefined && !(fraction > 0 && fraction <= 1)) throw new RangeError(`fraction: got ${fraction}; allowed: a number in (0, 1]`)
  if (perClass !== undefined && !(Number.isInteger(perClass) && perClass >= 1)) throw new RangeError(`perClass: got ${perClass}; allowed: an integer ≥ 1`)
  const byClass = new Map<number, Array<number>>()
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!
    if (label < 0) continue
    if (!byClass.has(label)) byClass.set(label, [])
    byClass.get(label)!.push(i)
  }
  const chosen: Array<number> = []
  for (const [label, members] of [...byClass].toSorted((a, b) => a[0] - b[0])) {
    // One generator per class: a class's draw does not depend on the other classes.
    const order = new Random(seed, label).permutation(members.length)
    const take = perClass !== undefined ? Math.min(perClass, members.length) : Math.max(1, Math.round(fraction! * members.length))
    for (let j = 0; j < take; j++) chosen.push(members[order[j]!]!)
  }
  return chosen.toSorted((a, b) => a - b)
}
