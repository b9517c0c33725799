/**
 * A CSV list of `path,label` rows.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { statSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { dirname, isAbsolute, resolve } from "node:path"
import { DatasetFormatError, DatasetNotFoundError, EmptyDatasetError, reasonOf } from "./DataStreamError.ts"
import { fingerprintOf } from "./internal/fingerprint.ts"
import type { IndexedSource } from "./Source.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface CsvOptions {
  /** Folder that relative paths are resolved against. Default: the CSV file's folder. */
  readonly root?: string | undefined
}

/** Splits CSV text into rows of fields (RFC 4180: quoted fields, doubled quotes, CRLF or LF). */
export const parseCsv = (text: string): Array<Array<string>> => {
  const rows: Array<Array<string>> = []
  let row: Array<string> = []
  let field = ""
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quoted) {
      if (c === "\"") {
        if (text[i + 1] === "\"") {
          field += "\""
          i++
        } else quoted = false
      } else field += c
    } else if (c === "\"" && field === "") quoted = true
    else if (c === ",") {
      row.push(field)
      field = ""
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++
      row.push(field)
      rows.push(row)
      row = []
      field = ""
    } else field += c
  }
  if (field !== "" || row.length > 0) {
    row.push(field)
    rows.push(row)
  }
  return rows.filter((r) => !(r.length === 1 && r[0]!.trim() === ""))
}

const byName = (a: string, b: string): number => {
  const na = Number(a)
  const nb = Number(b)
  if (a.trim() !== "" && b.trim() !== "" && Number.isFinite(na) && Number.isFinite(nb)) return na - nb
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * The images listed in a CSV file, one `path,label` row each (a header row `path,label` is recognised
 * and skipped; a row with only a path, or an empty label, is unlabeled). Classes are the distinct
 * labels, sorted (numerically when all are numbers), so `label` indexes `classes`. Relative paths are
 * resolved against the CSV's folder or `root`. Files that are missing when read are skipped and
 * counted like any unreadable image.
 *
 * @category sources
 * @since 0.1.0
 */
export const fromCsv = (
  csvPath: string,
  options: CsvOptions = {}
): Effect.Effect<IndexedSource, DatasetNotFoundError | DatasetFormatError | EmptyDatasetError> =>
  Effect.gen(function*() {
    const text = yield* Effect.tryPromise({
      try: () => readFile(csvPath, "utf8"),
      catch: (error) => new DatasetNotFoundError({ path: csvPath, reason: reasonOf(error) })
    })
    const rows = parseCsv(text.replace(/^\uFEFF/, ""))
    const header = rows[0]?.map((f) => f.trim().toLowerCase())
    const body = header !== undefined && header[0] === "path" ? rows.slice(1) : rows
    if (body.length === 0) return yield* new EmptyDatasetError({ source: csvPath, reason: "no rows" })
    const bad = body.findIndex((r) => r.length > 2 || r[0]!.trim() === "")
    if (bad >= 0) {
      return yield* new DatasetFormatError({
        path: csvPath,
        reason: `row ${bad + 1 + (body === rows ? 0 : 1)} is ${JSON.stringify(body[bad]!.join(","))}; expected "path" or "path,label"`
      })
    }
    const root = options.root ?? dirname(csvPath)
    const paths = body.map((r) => {
      const p = r[0]!.trim()
      return isAbsolute(p) ? p : resolve(root, p)
    })
    const names = body.map((r) => (r[1] ?? "").trim())
    const classes = [...new Set(names.filter((n) => n !== ""))].toSorted(byName)
    const index = new Map(classes.map((c, i) => [c, i]))
    const labels = names.map((n) => (n === "" ? undefined : index.get(n)))
    const labeled = classes.length > 0
    return {
      _tag: "IndexedSource",
      name: `csv ${csvPath} (${paths.length} images${labeled ? `, ${classes.length} classes` : ""})`,
      size: paths.length,
      classes: labeled ? classes : undefined,
      item: (i) => ({ id: paths[i]!, label: labels[i], image: { kind: "file", path: paths[i]! } }),
      fingerprint: () =>
        fingerprintOf(
          "csv",
          ...paths.flatMap((p, i) => {
            const info = statSync(p, { throwIfNoEntry: false })
            return [p, info?.size ?? -1, info?.mtimeMs ?? -1, labels[i] ?? -1]
          })
        )
    } satisfies IndexedSource
  })
