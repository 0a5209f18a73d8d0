/**
 * ListOptions query parameters (`watch`, `fieldSelector`, `labelSelector`) as kube-apiserver's
 * parameter codec reads them (apimachinery's Convert_Slice_string_To_string and
 * Convert_Slice_string_To_bool): a parameter given more than once counts by its first value.
 * (The dashboard's read APIs refuse a repeated parameter instead: errors/query-parameters.ts.)
 * The list and watch handlers and delegated authorization (auth/delegated/request-attributes.ts)
 * read `watch` and `fieldSelector` through these, from the same parse of the query string
 * (node:querystring, Express's "simple" query parser), so that a request is served as what it was
 * authorized as.
 */

/** What node:querystring gives for one parameter: absent, one value, or every value when repeated. */
export type QueryValue = string | readonly string[] | undefined;

export function firstQueryValue(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}

/**
 * A boolean parameter (`watch`): absent, `false` (any case) or `0` is false; every other value,
 * the empty one included (`?watch`, `?watch=`, `?watch=yes`), is true.
 */
export function queryBoolean(value: unknown): boolean {
  const first = firstQueryValue(value);
  return first !== undefined && first !== '0' && first.toLowerCase() !== 'false';
}
