/**
 * Query parameters as the read APIs take them (`/v1/events`, `/v1/traffic`, the trace search):
 * a misspelt parameter is refused rather than ignored (it would answer as if it matched), each
 * is given once, and times are RFC 3339. Every refusal is a 400 Status naming the parameter.
 */
import { parseTime } from '@portolan/api';
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

/** An RFC 3339 parameter: the time in milliseconds and its fraction's digits (for sub-millisecond precision). */
export function timeParameter(parameter: string, value: string): { ms: number; fraction: string } {
  const time = parseTime(value);
  if (!time) throw invalidParameter(parameter, `"${value}" is not an RFC 3339 time: use e.g. 2026-05-01T12:00:00Z`);
  return time;
}
