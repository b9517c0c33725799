/**
 * Indexed sources made of others, for the distillation's stream: a source's images without their
 * labels, and two sources one after the other.
 */
import type { IndexedSource } from "@simclr/data-stream"

/** The same images with no labels (no classes; every item's label undefined). */
export const withoutLabels = (source: IndexedSource): IndexedSource => ({
  _tag: "IndexedSource",
  name: `${source.name}, labels not used`,
  size: source.size,
  classes: undefined,
  item: (i) => ({ ...source.item(i), label: undefined }),
  fingerprint: () => `${source.fingerprint()}:unlabeled`
})

/**
 * `first`'s images, then `second`'s. The classes are `second`'s (or `first`'s when `second` has none);
 * the caller makes sure that both name the same classes when both have labels.
 */
export const concatSources = (first: IndexedSource, second: IndexedSource): IndexedSource => ({
  _tag: "IndexedSource",
  name: `${first.name} + ${second.name}`,
  size: first.size + second.size,
  classes: second.classes ?? first.classes,
  item: (i) => (i < first.size ? first.item(i) : second.item(i - first.size)),
  fingerprint: () => `${first.fingerprint()}+${second.fingerprint()}`
})
