// Event search: `unit:api type:task.retry timeout "exit status 1"`.
// Tokens combine (all must match): `unit:` names a unit exactly, `type:`
// a dotted type family (`task` matches task.*), anything else is text
// looked for, ignoring ASCII case, in the type, unit, error and payload.
// Pure; unit-tested with node. The daemon's `q=` parameter implements the
// same grammar (plugins/sqlite/src/search.rs); both pass the cases in
// tests/search-cases.json, and docs/API.md documents it.

/** ASCII-only lower case (what SQLite's lower() does on the daemon's side). */
export const asciiLower = (s) => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());

/** The parsed query: {units, types, words}; empty lists when absent. */
export function parseQuery(text) {
  const query = { units: [], types: [], words: [] };
  const tokens = String(text ?? "").match(/(?:[^\s"]+:)?"[^"]*"|\S+/g) ?? [];
  for (const raw of tokens) {
    const colon = raw.indexOf(":");
    const key = colon > 0 ? asciiLower(raw.slice(0, colon)) : "";
    let value = colon > 0 && (key === "unit" || key === "type") ? raw.slice(colon + 1) : raw;
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (value === "") continue;
    if (colon > 0 && key === "unit") query.units.push(value);
    else if (colon > 0 && key === "type") query.types.push(value);
    else query.words.push(asciiLower(value));
  }
  return query;
}

/** Whether the query has any token. */
export function isEmptyQuery(query) {
  return query.units.length === 0 && query.types.length === 0 && query.words.length === 0;
}

const inFamily = (type, family) => type === family || type.startsWith(`${family}.`);

/** The text an event is searched in, lower-cased (computed once per event). */
function haystack(e) {
  if (e._search === undefined) {
    const payload = e.payload == null ? "" : JSON.stringify(e.payload);
    Object.defineProperty(e, "_search", {
      value: asciiLower(`${e.type ?? ""}\n${e.unit ?? ""}\n${e.error ?? ""}\n${payload}`),
      enumerable: false,
    });
  }
  return e._search;
}

/**
 * Whether event `e` matches: one of the `unit:` values (when any), one of
 * the `type:` families (when any), and every word.
 */
export function matchesQuery(query, e) {
  if (query.units.length && !query.units.includes(e.unit ?? "")) return false;
  if (query.types.length && !query.types.some((t) => inFamily(String(e.type ?? ""), t))) return false;
  if (query.words.length) {
    const text = haystack(e);
    if (!query.words.every((w) => text.includes(w))) return false;
  }
  return true;
}
