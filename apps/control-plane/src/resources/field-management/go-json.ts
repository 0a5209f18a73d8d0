/**
 * JSON spelled as Go's encoding/json writes it. kube-apiserver writes the keys of FieldsV1
 * (`k:{"name":"per-second"}`) and the last-applied annotation this way, and clients compare those
 * strings byte for byte: object keys sorted, and <, >, &, U+2028 and U+2029 escaped.
 */
export function goJson(value: unknown): string {
  return JSON.stringify(withSortedKeys(value)).replace(/[<>&\u2028\u2029]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function withSortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withSortedKeys);
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  return Object.fromEntries(
    Object.keys(record)
      .sort(compareGoStrings)
      .filter((key) => record[key] !== undefined)
      .map((key) => [key, withSortedKeys(record[key])]),
  );
}

/** Go compares strings by bytes; code units order ASCII (every key Kubernetes allows) the same way. */
export function compareGoStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
