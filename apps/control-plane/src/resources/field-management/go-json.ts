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

/**
 * Go's `<` on strings: byte by byte of their UTF-8. JavaScript's compares UTF-16 code units, which
 * orders a character above U+FFFF before U+E000–U+FFFF; label keys and manager names may have both.
 */
export function compareGoStrings(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
