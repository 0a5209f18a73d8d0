/**
 * Request headers as Node's http module hands them over: names lower-cased, values joined with
 * ", " except for the few (set-cookie) that arrive as arrays.
 */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** RFC 9110 token characters, the only ones a header name may contain. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function isHeaderName(name: string): boolean {
  return HEADER_NAME.test(name);
}

/** The value of a header given by its lower-cased name; repeated values are joined as one field. */
export function headerValue(headers: RequestHeaders, lowerCaseName: string): string | undefined {
  const value = headers[lowerCaseName];
  return Array.isArray(value) ? value.join(', ') : value;
}
