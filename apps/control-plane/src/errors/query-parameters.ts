/**
 * Query parameters as the read APIs take them (`/v1/events`, `/v1/traffic`, the trace search):
 * a misspelt parameter is refused rather than ignored (it would answer as if it matched), each
 * is given once, and times are RFC 3339. Every refusal is a 400 Status naming the parameter.
 */
import { ApiError } from './api-error';

export type RawQuery = Record<string, string | string[] | undefined>;

export function invalidParameter(parameter: string, message: string): ApiError {
  return ApiError.of(400, 'BadRequest', `query parameter ${parameter}: ${message}`, { causes: [{ field: parameter, message, reason: 'FieldValueInvalid' }] });
}

export function refuseUnknownParameters(raw: object, known: readonly string[]): void {
  const unknown = Object.keys(raw).find((name) => !known.includes(name));
  if (unknown !== undefined) throw invalidParameter(unknown, `unknown; the parameters are ${known.join(', ')}`);
}

/** The parameter's value, or undefined when absent or empty. */
export function singleParameter(raw: RawQuery, parameter: string): string | undefined {
  const value = raw[parameter];
  if (Array.isArray(value)) throw invalidParameter(parameter, 'give it once');
  return value === undefined || value === '' ? undefined : value;
}

/** Date.parse alone would take "2026-03-01" or "March 1": the parameters promise RFC 3339. */
const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

/** An RFC 3339 parameter: the time in milliseconds and its fraction's digits (for sub-millisecond precision). */
export function timeParameter(parameter: string, value: string): { ms: number; fraction: string } {
  const match = RFC3339.exec(value);
  const ms = match ? Date.parse(`${match[1]}${match[2] ? `.${match[2].slice(0, 3)}` : ''}${match[3].toUpperCase()}`) : NaN;
  if (!match || Number.isNaN(ms)) throw invalidParameter(parameter, `"${value}" is not an RFC 3339 time: use e.g. 2026-05-01T12:00:00Z`);
  return { ms, fraction: match[2] ?? '' };
}
