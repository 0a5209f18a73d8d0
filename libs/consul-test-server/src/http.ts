/**
 * The request and reply shapes the handlers share, and the errors that map to HTTP statuses in one
 * place (server.ts). Consul answers errors as plain text, successes as JSON.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { KeyAuthorizer } from './acl.js';

export interface ConsulRequest {
  method: string;
  /** Decoded path, e.g. `/v1/kv/cfg/a`. */
  path: string;
  /** Single-valued view of the query string (last value wins). */
  query: Record<string, string>;
  /** Every value of every query parameter (`?tag=a&tag=b`). */
  params: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Path parameters captured by the route (the KV key, a service ID, ...). */
  route: string[];
  /** Resolves when the client goes away or the server is stopped (ends a blocking query). */
  aborted: Promise<void>;
  /** The key rules of the request's ACL token; undefined when ACLs are off. */
  acl?: KeyAuthorizer;
}

export interface ConsulReply {
  status?: number;
  /** JSON-serialised unless it is a Buffer (raw KV values). */
  body: unknown;
  /** X-Consul-Index; the server's raft index when absent. Never sent as 0. */
  index?: number;
  contentType?: string;
  /** Response headers besides the ones every answer carries (e.g. X-Consul-Results-Filtered-By-ACLs). */
  headers?: Record<string, string>;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Parses a JSON request body the way Consul's decodeBody does: 400 "Request decode failed: ..." when malformed. */
export function jsonBody(request: ConsulRequest, { required = true } = {}): unknown {
  const text = request.body.toString('utf8');
  if (text.trim() === '') {
    if (required) throw new HttpError(400, 'Request decode failed: EOF');
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `Request decode failed: ${(error as Error).message}`);
  }
}

/**
 * Reads a field of a decoded body case-insensitively and ignoring underscores: Consul's decoder
 * accepts `DeregisterCriticalServiceAfter`, `deregistercriticalserviceafter` and
 * `deregister_critical_service_after` alike.
 */
export function field(object: unknown, name: string): unknown {
  if (object === null || typeof object !== 'object') return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(object)) {
    if (key.replaceAll('_', '').toLowerCase() === wanted) return value;
  }
  return undefined;
}

export function stringField(object: unknown, name: string): string | undefined {
  const value = field(object, name);
  return typeof value === 'string' ? value : undefined;
}

/** `?passing`, `?recurse`, `?keys`, `?raw`: present means true unless it says false. */
export function flag(request: ConsulRequest, name: string): boolean {
  if (!request.params.has(name)) return false;
  const value = request.params.get(name)!.toLowerCase();
  return value !== 'false' && value !== '0';
}
