/**
 * Vitest 5 declares Node ^22.12 and calls `Map.groupBy` (Node 21+) when it reports failed tests; on
 * Node 20 the reporter then crashes and hides the failure. The project runs on Node 20.19+, so the
 * two ES2024 grouping functions are defined here when missing (loaded by tools/vitest.shared.ts in the
 * main process and by the test-utils setup file in workers). Remove with the move to Node 22.
 */
type Grouper = <K, T>(items: Iterable<T>, key: (item: T, index: number) => K) => Map<K, Array<T>>

const mapGroupBy: Grouper = (items, key) => {
  const out = new Map()
  let i = 0
  for (const item of items) {
    const k = key(item, i++)
    const group = out.get(k)
    if (group === undefined) out.set(k, [item])
    else group.push(item)
  }
  return out
}

const MapCtor = Map as unknown as { groupBy?: Grouper }
if (typeof MapCtor.groupBy !== "function") {
  Object.defineProperty(Map, "groupBy", { value: mapGroupBy, writable: true, configurable: true })
}
const ObjectCtor = Object as unknown as { groupBy?: unknown }
if (typeof ObjectCtor.groupBy !== "function") {
  Object.defineProperty(Object, "groupBy", {
    value: <T>(items: Iterable<T>, key: (item: T, index: number) => PropertyKey) =>
      Object.assign(Object.create(null), Object.fromEntries(mapGroupBy(items, key))),
    writable: true,
    configurable: true
  })
}

export const polyfilled = true
