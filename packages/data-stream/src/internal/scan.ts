/**
 * Finding image files: fast-glob walks real directories; symbolic links are resolved here, each real
 * directory is walked once, so a link back to an ancestor cannot loop.
 */
import fg from "fast-glob"
import { realpath, stat } from "node:fs/promises"
import { extname, join, relative, sep } from "node:path"

/** The extensions sharp decodes, compared case-insensitively. */
export const IMAGE_EXTENSIONS: ReadonlyArray<string> = ["jpg", "jpeg", "jpe", "jfif", "png", "webp", "gif", "tif", "tiff", "avif"]

export interface FoundFile {
  /** Absolute path, through the links that led to it. */
  readonly path: string
  /** Path relative to the scan root, with "/" separators. */
  readonly relative: string
  readonly size: number
  readonly mtimeMs: number
}

const hasExtension = (name: string, extensions: ReadonlySet<string>): boolean => extensions.has(extname(name).slice(1).toLowerCase())

const isInside = (path: string, roots: ReadonlyArray<string>): boolean => roots.some((r) => path === r || path.startsWith(r.endsWith(sep) ? r : r + sep))

/**
 * Every image file under `root` (absolute), hidden files and folders excluded, sorted by relative path.
 * `patterns` are fast-glob patterns relative to root (default: everything).
 */
export const scanImages = async (
  root: string,
  options: { readonly extensions: ReadonlyArray<string>; readonly followSymlinks: boolean; readonly patterns?: ReadonlyArray<string> }
): Promise<Array<FoundFile>> => {
  const extensions = new Set(options.extensions.map((e) => e.replace(/^\./, "").toLowerCase()))
  const found: Array<FoundFile> = []
  const walked: Array<string> = []
  const walk = async (realDir: string, shownDir: string): Promise<void> => {
    walked.push(realDir)
    const entries = await fg(options.patterns === undefined ? ["**"] : [...options.patterns], {
      cwd: realDir,
      dot: false,
      onlyFiles: false,
      followSymbolicLinks: false,
      caseSensitiveMatch: false,
      objectMode: true,
      stats: true,
      suppressErrors: true
    })
    const links: Array<{ real: string; shown: string }> = []
    for (const entry of entries) {
      const shown = join(shownDir, entry.path)
      if (entry.dirent.isFile()) {
        if (hasExtension(entry.name, extensions)) found.push({ path: shown, relative: "", size: entry.stats?.size ?? 0, mtimeMs: entry.stats?.mtimeMs ?? 0 })
      } else if (entry.dirent.isSymbolicLink() && options.followSymlinks) {
        const target = join(realDir, entry.path)
        const info = await stat(target).catch(() => undefined)
        if (info === undefined) continue // a broken link
        if (info.isFile()) {
          if (hasExtension(entry.name, extensions)) found.push({ path: shown, relative: "", size: info.size, mtimeMs: info.mtimeMs })
        } else if (info.isDirectory()) {
          links.push({ real: await realpath(target), shown })
        }
      }
    }
    for (const link of links) {
      // A directory already walked (an ancestor, or a tree reached through another link) is skipped.
      if (!isInside(link.real, walked)) await walk(link.real, link.shown)
    }
  }
  const realRoot = await realpath(root)
  await walk(realRoot, root)
  return found
    .map((f) => ({ ...f, relative: relative(root, f.path).split(sep).join("/") }))
    .toSorted((a, b) => (a.relative < b.relative ? -1 : a.relative > b.relative ? 1 : 0))
}
