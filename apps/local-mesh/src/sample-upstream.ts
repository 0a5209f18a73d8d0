/**
 * A sample upstream service for the local mesh and for demos: answers every request with JSON
 * naming itself, after an added latency, failing a given share of requests with 503. The knobs can
 * be read and changed while it runs: `GET /_knobs`, `PUT /_knobs {"latencyMs": 50, "errorRate": 0.2}`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Knobs {
  /** Added to every answer. */
  latencyMs: number;
  /** Share of requests answered 503, 0 to 1. */
  errorRate: number;
}

export interface SampleUpstream {
  name: string;
  zone: string;
  port: number;
  knobs: Knobs;
  /** Requests served since start (the knobs endpoint excluded). */
  served(): number;
  close(): Promise<void>;
}

export class KnobsError extends Error {}

export function validateKnobs(input: unknown, current: Knobs): Knobs {
  if (typeof input !== 'object' || input === null) throw new KnobsError('knobs must be a JSON object like {"latencyMs": 50, "errorRate": 0.1}');
  const { latencyMs = current.latencyMs, errorRate = current.errorRate } = input as Partial<Knobs>;
  if (typeof latencyMs !== 'number' || !(latencyMs >= 0 && latencyMs <= 60_000)) throw new KnobsError('latencyMs must be a number of milliseconds from 0 to 60000');
  if (typeof errorRate !== 'number' || !(errorRate >= 0 && errorRate <= 1)) throw new KnobsError('errorRate must be a number from 0 to 1');
  return { latencyMs, errorRate };
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new KnobsError('body larger than 64 KiB');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString() || '{}');
  } catch {
    throw new KnobsError('body is not JSON');
  }
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

export async function startSampleUpstream(options: { name: string; zone: string; host?: string; port?: number; knobs?: Partial<Knobs>; random?: () => number }): Promise<SampleUpstream> {
  const random = options.random ?? Math.random;
  let served = 0;
  const upstream: SampleUpstream = {
    name: options.name,
    zone: options.zone,
    port: 0,
    knobs: validateKnobs(options.knobs ?? {}, { latencyMs: 0, errorRate: 0 }),
    served: () => served,
    close: async () => undefined,
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    if (request.url === '/_knobs') {
      if (request.method === 'GET') return send(response, 200, upstream.knobs);
      if (request.method !== 'PUT') return send(response, 405, { error: 'use GET or PUT on /_knobs' });
      try {
        upstream.knobs = validateKnobs(await readJson(request), upstream.knobs);
        return send(response, 200, upstream.knobs);
      } catch (error) {
        return send(response, 400, { error: (error as Error).message });
      }
    }
    served++;
    request.resume();
    if (upstream.knobs.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, upstream.knobs.latencyMs));
    const failed = random() < upstream.knobs.errorRate;
    send(response, failed ? 503 : 200, {
      service: upstream.name,
      zone: upstream.zone,
      port: upstream.port,
      method: request.method,
      path: request.url,
      traceparent: request.headers.traceparent ?? null,
      ...(failed ? { error: 'injected failure (errorRate knob)' } : {}),
    });
  };

  const server: Server = createServer((request, response) => void handle(request, response).catch(() => response.destroy()));
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  upstream.port = (server.address() as AddressInfo).port;
  upstream.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return upstream;
}
