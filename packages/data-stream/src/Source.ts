/**
 * What every source yields: items that name an image (a file, encoded bytes, or pixels) and its label.
 * Sources come in two kinds. An `IndexedSource` knows its size and can fetch item i at any time:
 * folders, CSV lists, IDX and CIFAR files, arrays and the synthetic set. It gets a seeded permutation
 * per epoch, exact resume and the decode cache. A `StreamSource` is read front to back (any iterable or
 * async iterable): it gets a seeded shuffle buffer instead.
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"

/**
 * Decoded pixels: row-major, interleaved channels, 8 bits per channel. `channels` is 1 (gray), 3 (RGB)
 * or 4 (RGBA); the pipeline turns every image into RGB.
 *
 * @category models
 * @since 0.1.0
 */
export interface RawImage {
  readonly pixels: Uint8Array
  readonly width: number
  readonly height: number
  readonly channels: 1 | 2 | 3 | 4
}

/**
 * Where an item's image comes from.
 *
 * @category models
 * @since 0.1.0
 */
export type ImageInput =
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "encoded"; readonly bytes: Uint8Array }
  | ({ readonly kind: "raw" } & RawImage)
  | {
    readonly kind: "lazy"
    /** Produces the pixels on demand; a resolution-free source (the synthetic set) renders at `target`. */
    readonly render: (target?: { readonly height: number; readonly width: number }) => RawImage
  }

/**
 * One element of a source.
 *
 * @category models
 * @since 0.1.0
 */
export interface SourceItem {
  /** The file path, or `<source>#<index>`: what error reports name. */
  readonly id: string
  /** The class index into the source's `classes`, or `undefined` for an unlabeled image. */
  readonly label: number | undefined
  readonly image: ImageInput
}

/**
 * A finite source with random access.
 *
 * @category models
 * @since 0.1.0
 */
export interface IndexedSource {
  readonly _tag: "IndexedSource"
  /** A short description for messages, e.g. `folder photos/ (1,204 images, 10 classes)`. */
  readonly name: string
  readonly size: number
  /** Class names, index = label; `undefined` for an unlabeled source. */
  readonly classes: ReadonlyArray<string> | undefined
  readonly item: (index: number) => SourceItem
  /**
   * Identifies the content (paths with sizes and modification times, file identities, seeds): the
   * decode cache is reused only when this and the decode options are unchanged.
   */
  readonly fingerprint: () => string
}

/**
 * A source read front to back. `open` is called once per epoch; `replayable` says whether a second
 * call yields the same items again (a function returning a fresh iterable) or not (a generator).
 *
 * @category models
 * @since 0.1.0
 */
export interface StreamSource {
  readonly _tag: "StreamSource"
  readonly name: string
  readonly classes: ReadonlyArray<string> | undefined
  readonly replayable: boolean
  readonly open: () => AsyncIterable<SourceItem> | Iterable<SourceItem>
}

/**
 * Either kind of source.
 *
 * @category models
 * @since 0.1.0
 */
export type Source = IndexedSource | StreamSource

/**
 * A source, or an effect that builds one (as `fromDirectory` returns): the batch builders take both.
 *
 * @category models
 * @since 0.1.0
 */
export type SourceLike<E = never> = Source | Effect.Effect<Source, E>
