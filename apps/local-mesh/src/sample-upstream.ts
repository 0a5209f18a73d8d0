/**
 * A sample upstream service for the local mesh and for demos: answers every request with JSON
 * naming itself, after an added latency, failing a given share of requests (or the next few) with
 * 503. The knobs can be read and changed while it runs: `GET /_knobs`,
 * `PUT /_knobs {"latencyMs": 50, "errorRate": 0.2}` or `{"failNext": 2}` (to show a retry).
 *
 * It continues the caller's trace with a SERVER span of its own, from its own tracer provider (not
 * the global one: several upstreams run in one process, each with its resource `service.name`).
 * `{"propagateTraceContext": false}` makes it ignore the incoming `traceparent` and start a new
 * trace, like a service that drops trace context.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTracing, extractTraceContext, ROOT_CONTEXT, SpanKind, SpanStatusCode, type OtlpProtocol } from '@portolan/telemetry';

export interface Knobs {
  /** Added to every answer. */
  latencyMs: number;
  /** Share of requests answered 503, 0 to 1. */
  errorRate: number;
  /** Answer the next this many requests 503, whatever errorRate says. */
  failNext: number;
  /** False: ignore the caller's trace context and start a new trace. */
  propagateTraceContext: boolean;
}

const DEFAULT_KNOBS: Knobs = { latencyMs: 0, errorRate: 0, failNext: 0, propagateTraceContext: true };

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
  const { latencyMs = current.latencyMs, errorRate = current.errorRate, failNext = current.failNext, propagateTraceContext = current.propagateTraceContext } = input as Partial<Knobs>;
  if (typeof latencyMs !== 'number' || !(latencyMs >= 0 && latencyMs <= 60_000)) throw new KnobsError('latencyMs must be a number of milliseconds from 0 to 60000');
  if (typeof errorRate !== 'number' || !(errorRate >= 0 && errorRate <= 1)) throw new KnobsError('errorRate must be a number from 0 to 1');
  if (!Number.isInteger(failNext) || failNext < 0 || failNext > 1000) throw new KnobsError('failNext must be a whole number of requests from 0 to 1000');
  if (typeof propagateTraceContext !== 'boolean') throw new KnobsError('propagateTraceContext must be true or false');
  return { latencyMs, errorRate, failNext, propagateTraceContext };
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

export interface SampleUpstreamOptions {
  /** Instance name (checkout-zone-a). */
  name: string;
  zone: string;
  /** The service's name in traces (resource service.name, namespace default). Default `checkout`. */
  service?: string;
  host?: string;
  port?: number;
  knobs?: Partial<Knobs>;
  random?: () => number;
  /** OTLP/HTTP traces URL; absent: spans are made (and context carried) but not exported. */
  otlpEndpoint?: string;
  otlpProtocol?: OtlpProtocol;
}

export async function startSampleUpstream(options: SampleUpstreamOptions): Promise<SampleUpstream> {
  const random = options.random ?? Math.random;
  const tracing = createTracing({
    serviceName: options.service ?? 'checkout',
    resourceAttributes: { 'service.namespace': 'default', 'service.instance.id': options.name, 'portolan.zone': options.zone },
    endpoint: options.otlpEndpoint,
    protocol: options.otlpProtocol,
  });
  let served = 0;
  const upstream: SampleUpstream = {
    name: options.name,
    zone: options.zone,
    port: 0,
    knobs: validateKnobs(options.knobs ?? {}, DEFAULT_KNOBS),
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
    const method = request.method ?? 'GET';
    const url = request.url ?? '/';
    const parent = upstream.knobs.propagateTraceContext ? extractTraceContext(request.headers) : ROOT_CONTEXT;
    // No route template here, so the name is the method alone (OpenTelemetry's HTTP convention).
    const span = tracing.tracer.startSpan(method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': url.split('?')[0] } }, parent);
    if (upstream.knobs.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, upstream.knobs.latencyMs));
    const failNext = upstream.knobs.failNext > 0;
    if (failNext) upstream.knobs = { ...upstream.knobs, failNext: upstream.knobs.failNext - 1 };
    const failed = failNext || random() < upstream.knobs.errorRate;
    const status = failed ? 503 : 200;
    span.setAttribute('http.response.status_code', status);
    const injected = `injected failure (${failNext ? 'failNext' : 'errorRate'} knob)`;
    if (failed) span.setStatus({ code: SpanStatusCode.ERROR, message: injected });
    span.end();
    send(response, status, {
      service: upstream.name,
      zone: upstream.zone,
      port: upstream.port,
      method: request.method,
      path: request.url,
      traceparent: request.headers.traceparent ?? null,
      ...(failed ? { error: injected } : {}),
    });
  };

  const server: Server = createServer((request, response) => void handle(request, response).catch(() => response.destroy()));
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  upstream.port = (server.address() as AddressInfo).port;
  upstream.close = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await tracing.shutdown();
  };
  return upstream;
}
