/**
 * The request headers sent upstream: hop-by-hop headers dropped (RFC 9110 §7.6.1), the usual
 * x-forwarded-* added, and W3C trace context carried on: an incoming `traceparent` keeps its trace
 * id with this hop as the new parent span; a request without one starts a trace here.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface TraceContext {
  traceId: string;
  /** The span id this gateway hop uses, sent upstream as the parent. */
  spanId: string;
  traceparent: string;
}

/**
 * Trace and span ids need randomness on every request; one crypto call per request showed as 5% of
 * the gateway's CPU, so bytes are drawn from a pool refilled 64 KiB at a time.
 */
const POOL_SIZE = 64 * 1024;
let pool = Buffer.alloc(0);
let offset = 0;
function pooledRandomBytes(bytes: number): Buffer {
  if (offset + bytes > pool.length) {
    pool = randomBytes(POOL_SIZE);
    offset = 0;
  }
  offset += bytes;
  return pool.subarray(offset - bytes, offset);
}

export function continueTrace(incoming: string | string[] | undefined, random: (bytes: number) => Buffer = pooledRandomBytes): TraceContext {
  const match = typeof incoming === 'string' ? TRACEPARENT.exec(incoming.trim()) : null;
  const valid = match && match[1] !== 'ff' && !/^0+$/.test(match[2]) && !/^0+$/.test(match[3]);
  const traceId = valid ? match[2] : random(16).toString('hex');
  const flags = valid ? match[4] : '01';
  const spanId = random(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-${flags}` };
}

export interface ClientInfo {
  remoteAddress: string;
  /** The protocol the client used to reach the gateway. */
  protocol: 'http' | 'https';
  host: string | undefined;
}

export function upstreamHeaders(incoming: IncomingHttpHeaders, client: ClientInfo, trace: TraceContext): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  const connectionTokens = new Set(
    String(incoming.connection ?? '')
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter(Boolean),
  );
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || connectionTokens.has(name)) continue;
    headers[name] = value;
  }
  const priorFor = incoming['x-forwarded-for'];
  headers['x-forwarded-for'] = priorFor ? `${Array.isArray(priorFor) ? priorFor.join(', ') : priorFor}, ${client.remoteAddress}` : client.remoteAddress;
  headers['x-forwarded-proto'] = (incoming['x-forwarded-proto'] as string | undefined) ?? client.protocol;
  if (client.host) headers['x-forwarded-host'] = (incoming['x-forwarded-host'] as string | undefined) ?? client.host;
  headers.traceparent = trace.traceparent;
  return headers;
}

/** Response headers passed back to the client: hop-by-hop ones are the gateway's own business. */
export function downstreamHeaders(upstream: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    headers[name] = value;
  }
  return headers;
}
