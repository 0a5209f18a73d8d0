/**
 * What the zones API accepts, checked once at the edge: every bad input becomes a Status naming
 * the path parameter, query parameter or body field at fault, never a crash further in.
 */
import { DNS_LABEL_PATTERN, DEFAULT_NAMESPACE, DurationFormatError, formatDuration, isJsonObject, parseDuration, type StatusCause } from '@portolan/api';
import { ApiError } from '../errors/api-error';

const DNS_LABEL = new RegExp(DNS_LABEL_PATTERN);
/** ZoneSpec.reason's maxLength. */
const MAX_REASON_LENGTH = 256;
export const MIN_DRILL_MS = 5_000;
export const MAX_DRILL_MS = 30 * 60_000;

/** Zones, namespaces and Services are all named by DNS labels. */
function isDnsLabel(value: string): boolean {
  return DNS_LABEL.test(value) && value.length <= 63;
}

function badRequest(field: string, message: string, reason: StatusCause['reason'] = 'FieldValueInvalid'): ApiError {
  return ApiError.of(400, 'BadRequest', `${field}: ${message}`, { causes: [{ field, message, reason }] });
}

/** Refuses body fields we do not know: a misspelt `reasn` would otherwise be dropped without a word. */
function objectBody(body: unknown, fields: readonly string[]): Record<string, unknown> {
  // No body, or JSON null. A JSON string, even "", is a body of the wrong type: it must not count as none.
  if (body === undefined || body === null) return {};
  if (!isJsonObject(body)) throw ApiError.badRequest('the request body must be a JSON object');
  const unknown = Object.keys(body).filter((key) => !fields.includes(key));
  if (unknown.length > 0) throw badRequest(unknown[0], `unknown field; the fields are ${fields.join(', ')}`, 'FieldValueUnknown');
  return body;
}

/**
 * A zone is what GatewayNode and ServiceInstance spec.zone hold, a DNS label; the Zone object that
 * drains it carries the same name. 422 like any invalid object, naming `zone`.
 */
export function checkZoneName(zone: string): string {
  if (!isDnsLabel(zone)) {
    const cause: StatusCause = {
      field: 'zone',
      reason: 'FieldValueInvalid',
      message: `Invalid value: ${JSON.stringify(zone)}: a zone name is a DNS label: at most 63 lowercase letters, digits and "-", starting and ending with a letter or digit`,
    };
    throw ApiError.invalid('Zone', zone, [cause]);
  }
  return zone;
}

/** `POST /v1/zones/{zone}/drain` body: `{ reason?: string }`; absent, the reason names the actor. */
export function parseDrainBody(body: unknown, actor: string): { reason: string } {
  const { reason } = objectBody(body, ['reason']);
  if (reason === undefined) return { reason: `drained by ${actor}`.slice(0, MAX_REASON_LENGTH) };
  if (typeof reason !== 'string' || reason.trim() === '' || reason.length > MAX_REASON_LENGTH) {
    throw badRequest('reason', `a reason is a non-empty string of at most ${MAX_REASON_LENGTH} characters`);
  }
  return { reason };
}

/** `POST /v1/zones/{zone}/drills` body: `{ duration: '30s' }`, 5s to 30m. */
export function parseDrillBody(body: unknown): { durationMs: number; duration: string } {
  const { duration } = objectBody(body, ['duration']);
  const bounds = `from ${formatDuration(MIN_DRILL_MS)} to ${formatDuration(MAX_DRILL_MS)}`;
  if (duration === undefined) throw badRequest('duration', `required: how long the zone stays drained, ${bounds}, e.g. "30s"`, 'FieldValueRequired');
  if (typeof duration !== 'string') throw badRequest('duration', `${JSON.stringify(duration)} is not a duration: give a string such as "30s" or "5m"`);
  let durationMs: number;
  try {
    durationMs = parseDuration(duration);
  } catch (error) {
    if (error instanceof DurationFormatError) throw badRequest('duration', error.message);
    throw error;
  }
  if (durationMs < MIN_DRILL_MS || durationMs > MAX_DRILL_MS) throw badRequest('duration', `"${duration}" is out of bounds: a drill lasts ${bounds}`);
  return { durationMs, duration: formatDuration(durationMs) };
}

export type RawQuery = Record<string, string | string[] | undefined>;

const RESOLVE_PARAMETERS = ['namespace', 'zone'] as const;

function single(raw: RawQuery, parameter: string): string | undefined {
  const value = raw[parameter];
  if (Array.isArray(value)) throw badRequest(parameter, 'give it once');
  return value === undefined || value === '' ? undefined : value;
}

export interface ResolveRequest {
  namespace: string;
  name: string;
  /** The client's zone; undefined when it has none (then no zone is preferred). */
  zone: string | undefined;
}

/** `GET /v1/resolve/{service}?namespace=&zone=`. */
export function parseResolveRequest(service: string, raw: RawQuery): ResolveRequest {
  const unknown = Object.keys(raw).filter((name) => !(RESOLVE_PARAMETERS as readonly string[]).includes(name));
  if (unknown.length > 0) throw badRequest(unknown[0], `unknown query parameter; the parameters are ${RESOLVE_PARAMETERS.join(', ')}`, 'FieldValueUnknown');
  if (!isDnsLabel(service)) throw badRequest('service', `${JSON.stringify(service)} is not a Service name (a DNS label)`);
  const namespace = single(raw, 'namespace') ?? DEFAULT_NAMESPACE;
  if (!isDnsLabel(namespace)) throw badRequest('namespace', `${JSON.stringify(namespace)} is not a namespace name (a DNS label)`);
  const zone = single(raw, 'zone');
  if (zone !== undefined && !isDnsLabel(zone)) throw badRequest('zone', `${JSON.stringify(zone)} is not a zone name (a DNS label)`);
  return { namespace, name: service, zone };
}
