/**
 * Images the caller already holds: arrays (random access) and any iterable or async iterable.
 *
 * @since 0.1.0
 */
import { fingerprintOf } from "./internal/fingerprint.ts"
import type { ImageInput, IndexedSource, RawImage, SourceItem, StreamSource } from "./Source.ts"

/**
 * What an array or iterable may hold: a file path, encoded bytes (any format sharp reads), decoded
 * pixels, or any of these with a label.
 *
 * @category models
 * @since 0.1.0
 */
export type ImageLike = string | Uint8Array | RawImage
/**
 * @category models
 * @since 0.1.0
 */
export type LabeledImageLike = ImageLike | { readonly image: ImageLike; readonly label?: number | undefined }

const isRaw = (x: unknown): x is RawImage => typeof x === "object" && x !== null && "pixels" in x && "width" in x && "height" in x

const inputOf = (x: ImageLike): ImageInput => {
  if (typeof x === "string") return { kind: "file", path: x }
  if (x instanceof Uint8Array) return { kind: "encoded", bytes: x }
  if (isRaw(x)) return { kind: "raw", ...x }
  throw new TypeError(`an image must be a path, encoded bytes (Uint8Array) or { pixels, width, height, channels }; got ${typeof x}`)
}

const itemOf = (value: LabeledImageLike, id: string): SourceItem => {
  const labeled = typeof value === "object" && value !== null && "image" in value
  const image = labeled ? value.image : value
  return { id: typeof image === "string" ? image : id, label: labeled ? value.label : undefined, image: inputOf(image) }
}

/**
 * An indexed source over an array of images. `classes` names the labels (default `"0"` … the largest
 * label, when any image has one).
 *
 * @category sources
 * @since 0.1.0
 */
export const fromArray = (images: ReadonlyArray<LabeledImageLike>, options: { readonly name?: string; readonly classes?: ReadonlyArray<string> } = {}): IndexedSource => {
  const name = options.name ?? "array"
  const items = images.map((x, i) => itemOf(x, `${name}#${i}`))
  const labels = items.flatMap((it) => (it.label === undefined ? [] : [it.label]))
  for (const label of labels) {
    if (!Number.isInteger(label) || label < 0) throw new TypeError(`fromArray: labels must be integers ≥ 0; got ${label}`)
  }
  const classes = options.classes ?? (labels.length === 0 ? undefined : Array.from({ length: Math.max(...labels) + 1 }, (_v, i) => String(i)))
  return {
    _tag: "IndexedSource",
    name: `${name} (${items.length} images)`,
    size: items.length,
    classes,
    item: (i) => items[i]!,
    fingerprint: () =>
      fingerprintOf(
        "array",
        ...items.flatMap((it) => {
          const img = it.image
          const content = img.kind === "raw" ? img.pixels : img.kind === "encoded" ? img.bytes : img.kind === "file" ? img.path : ""
          return [it.id, it.label ?? -1, content]
        })
      )
  }
}

/**
 * A stream source over an iterable or async iterable, read front to back. Pass a function returning a
 * fresh iterable to read it again every epoch; a one-shot iterable (a generator) allows one epoch.
 *
 * @category sources
 * @since 0.1.0
 */
export const fromIterable = (
  images: Iterable<LabeledImageLike> | AsyncIterable<LabeledImageLike> | (() => Iterable<LabeledImageLike> | AsyncIterable<LabeledImageLike>),
  options: { readonly name?: string; readonly classes?: ReadonlyArray<string> } = {}
): StreamSource => {
  const name = options.name ?? "iterable"
  const open = typeof images === "function" ? images : () => images
  const oneShot = typeof images !== "function" && isOneShot(images)
  return {
    _tag: "StreamSource",
    name,
    classes: options.classes,
    replayable: !oneShot,
    open: () => mapItems(open(), name)
  }
}

const isOneShot = (x: Iterable<unknown> | AsyncIterable<unknown>): boolean => {
  if (Symbol.asyncIterator in x) {
    const it = (x as AsyncIterable<unknown>)[Symbol.asyncIterator]()
    return (it as unknown) === x
  }
  return ((x as Iterable<unknown>)[Symbol.iterator]() as unknown) === x
}

async function* mapItems(source: Iterable<LabeledImageLike> | AsyncIterable<LabeledImageLike>, name: string): AsyncGenerator<SourceItem> {
  let i = 0
  for await (const value of source) {
    yield itemOf(value, `${name}#${i}`)
    i++
  }
}
