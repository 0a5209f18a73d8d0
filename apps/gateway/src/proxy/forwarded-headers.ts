/**
 * The request headers sent upstream: hop-by-hop headers dropped (RFC 9110 §7.6.1) and the usual
 * x-forwarded-* added. Trace context is not set here: each upstream attempt gets the `traceparent`
 * of its own span (telemetry/request-spans.ts).
 */
import type { IncomingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

export interface ClientInfo {
  remoteAddress: string;
  /** The protocol the client used to reach the gateway. */
  protocol: 'http' | 'https';
  host: string | undefined;
}

export function upstreamHeaders(incoming: IncomingHttpHeaders, client: ClientInfo): Record<string, string | string[]> {
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
