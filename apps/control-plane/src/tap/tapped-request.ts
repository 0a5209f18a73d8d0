/**
 * A tap batch as the gateway sent it, read defensively: the summaries go to browsers, so only the
 * declared fields of the declared types pass, strings bounded; anything else is refused with the
 * field named.
 */
import { isJsonObject, type TappedRequest } from '@portolan/api';
import { MAX_TAP_BATCH } from '@portolan/agent-client';
import { ApiError } from '../errors/api-error';

const MAX_TEXT = 256;

function invalid(field: string, message: string): ApiError {
  return ApiError.of(400, 'BadRequest', `tap batch: ${field}: ${message}`, { causes: [{ field, message, reason: 'FieldValueInvalid' }] });
}

export function readTapBatch(body: unknown): TappedRequest[] {
  if (!isJsonObject(body) || !Array.isArray(body.requests)) throw invalid('requests', 'the body must be {"requests": [...]}');
  if (body.requests.length > MAX_TAP_BATCH) throw invalid('requests', `at most ${MAX_TAP_BATCH} requests a batch`);
  return body.requests.map((entry, index) => {
    const at = `requests[${index}]`;
    if (!isJsonObject(entry)) throw invalid(at, 'must be an object');
    const text = (name: string, required: boolean): string | undefined => {
      const value = entry[name];
      if (value === undefined && !required) return undefined;
      if (typeof value !== 'string' || value.length > MAX_TEXT) throw invalid(`${at}.${name}`, `must be a string of at most ${MAX_TEXT} characters`);
      return value;
    };
    const count = (name: string): number => {
      const value = entry[name];
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw invalid(`${at}.${name}`, 'must be a number, 0 or more');
      return value;
    };
    if (typeof entry.rateLimited !== 'boolean') throw invalid(`${at}.rateLimited`, 'must be true or false');
    const route = text('route', false);
    const service = text('service', false);
    const breaker = text('breaker', false);
    const failure = text('failure', false);
    return {
      time: text('time', true)!,
      method: text('method', true)!,
      path: text('path', true)!,
      status: count('status'),
      latencyMs: count('latencyMs'),
      ...(route !== undefined ? { route } : {}),
      ...(service !== undefined ? { service } : {}),
      tries: count('tries'),
      rateLimited: entry.rateLimited,
      ...(breaker !== undefined ? { breaker } : {}),
      ...(failure !== undefined ? { failure } : {}),
      traceId: text('traceId', true)!,
    };
  });
}
