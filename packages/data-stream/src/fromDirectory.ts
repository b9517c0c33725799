/**
 * Folders of image files: flat (unlabeled), or one sub-folder per class (torchvision's ImageFolder
 * convention), or any fast-glob pattern.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { stat } from "node:fs/promises"
import { resolve } from "node:path"
import { DatasetNotFoundError, EmptyDatasetError, InvalidOptionError, reasonOf } from "./DataStreamError.ts"
import { fingerprintOf } from "./internal/fingerprint.ts"
import { type FoundFile, IMAGE_EXTENSIONS, scanImages } from "./internal/scan.ts"
import type { IndexedSource } from "./Source.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface DirectoryOptions {
  /**
   * `"folders"`: the first folder level under the root names the class (files directly in the root are
   * not used); `"none"`: every image, unlabeled; `"auto"` (default): `"folders"` when all images sit in
   * sub-folders, `"none"` when all sit in the root, and an error naming both counts when mixed.
   */
  readonly labels?: "auto" | "folders" | "none" | undefined
  /** File extensions to read, case-insensitive. Default: jpg jpeg jpe jfif png webp gif tif tiff avif. */
  readonly extensions?: ReadonlyArray<string> | undefined
  /** Follow symbolic links to files and folders (each real folder is read once). Default true. */
  readonly followSymlinks?: boolean | undefined
}

const imageList = (name: string, files: ReadonlyArray<FoundFile>, labels: ReadonlyArray<number> | undefined, classes: ReadonlyArray<string> | undefined): IndexedSource => ({
  _tag: "IndexedSource",
  name,
  size: files.length,
  classes,
  item: (index) => {
    const file = files[index]!
    return { id: file.path, label: labels?.[index], image: { kind: "file", path: file.path } }
  },
  fingerprint: () => fingerprintOf("files", ...files.flatMap((f, i) => [f.path, f.size, f.mtimeMs, labels?.[i] ?? -1]))
})

const classOf = (f: FoundFile) => f.relative.slice(0, f.relative.indexOf("/"))

/** Checks that `path` is a readable folder. */
export const requireDirectory = (path: string, option: string): Effect.Effect<string, DatasetNotFoundError> =>
  Effect.tryPromise({
    try: async () => {
      const info = await stat(path)
      if (!info.isDirectory()) throw new Error("not a directory")
      return resolve(path)
    },
    catch: (error) => new DatasetNotFoundError({ path, reason: `${option}: ${reasonOf(error)}` })
  })

const scan = (root: string, options: DirectoryOptions, patterns?: ReadonlyArray<string>) =>
  Effect.tryPromise({
    try: () =>
      scanImages(root, {
        extensions: options.extensions ?? IMAGE_EXTENSIONS,
        followSymlinks: options.followSymlinks ?? true,
        ...(patterns === undefined ? {} : { patterns })
      }),
    catch: (error) => new DatasetNotFoundError({ path: root, reason: reasonOf(error) })
  })

/**
 * The images under a folder, labeled by sub-folder when the folder is laid out as one sub-folder per
 * class (classes sorted by name, as ImageFolder does). Hidden files and folders are ignored; extensions
 * match case-insensitively; symbolic links are followed without loops; the order is sorted by path, so
 * the same folder always gives the same source.
 *
 * **Example**
 * ```ts
 * const photos = fromDirectory("photos/")      // Effect<IndexedSource, DatasetNotFoundError | …>
 * const stream = imageBatches(photos, { batchSize: 256, imageSize: 224 })
 * ```
 *
 * @category sources
 * @since 0.1.0
 */
export const fromDirectory = (
  directory: string,
  options: DirectoryOptions = {}
): Effect.Effect<IndexedSource, DatasetNotFoundError | EmptyDatasetError | InvalidOptionError> =>
  Effect.gen(function*() {
    const mode = options.labels ?? "auto"
    if (!["auto", "folders", "none"].includes(mode)) {
      return yield* new InvalidOptionError({ option: "labels", reason: `got ${JSON.stringify(mode)}; allowed: "auto", "folders", "none"` })
    }
    const root = yield* requireDirectory(directory, "directory")
    const files = yield* scan(root, options)
    const nested = files.filter((f) => f.relative.includes("/"))
    const flat = files.length - nested.length
    if (files.length === 0) {
      return yield* new EmptyDatasetError({ source: directory, reason: `no image files (${(options.extensions ?? IMAGE_EXTENSIONS).join(", ")})` })
    }
    let useFolders = mode === "folders"
    if (mode === "auto") {
      if (nested.length > 0 && flat > 0) {
        return yield* new InvalidOptionError({
          option: "labels",
          reason: `${directory} has ${flat} images at its top level and ${nested.length} in sub-folders; pass labels: "folders" to label by sub-folder (top-level images unused) or labels: "none" to read all of them unlabeled`
        })
      }
      useFolders = nested.length > 0
    }
    if (!useFolders) return imageList(`folder ${directory} (${files.length} images)`, files, undefined, undefined)
    if (nested.length === 0) return yield* new EmptyDatasetError({ source: directory, reason: "labels: \"folders\" but no images in sub-folders" })
    const classes = [...new Set(nested.map(classOf))].toSorted((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    const index = new Map(classes.map((c, i) => [c, i]))
    return imageList(
      `folder ${directory} (${nested.length} images, ${classes.length} classes)`,
      nested,
      nested.map((f) => index.get(classOf(f))!),
      classes
    )
  })

/**
 * The images matching fast-glob patterns (relative to `cwd`, default the working directory), unlabeled.
 * Hidden files are ignored, extensions still have to be image extensions, case-insensitively.
 *
 * @category sources
 * @since 0.1.0
 */
export const fromGlob = (
  patterns: string | ReadonlyArray<string>,
  options: Omit<DirectoryOptions, "labels"> & { readonly cwd?: string | undefined } = {}
): Effect.Effect<IndexedSource, DatasetNotFoundError | EmptyDatasetError> =>
  Effect.gen(function*() {
    const list = typeof patterns === "string" ? [patterns] : patterns
    const root = yield* requireDirectory(options.cwd ?? ".", "cwd")
    const files = yield* scan(root, options, list)
    if (files.length === 0) return yield* new EmptyDatasetError({ source: list.join(" "), reason: `no image files match in ${root}` })
    return imageList(`glob ${list.join(" ")} (${files.length} images)`, files, undefined, undefined)
  })
