/**
 * A test double of Jaeger's HTTP query API, written from Jaeger's own sources, since Jaeger cannot
 * be installed here:
 * - routes and the `{ data, total, limit, offset, errors }` envelope: jaegertracing/jaeger
 *   cmd/query/app/http_handler.go (RegisterRoutes, structuredResponse, getTrace answers 404 for
 *   an unknown trace, search answers 400 for unparsable parameters);
 * - search parameters: cmd/query/app/query_parser.go (`service` required; `start`/`end` in unix
 *   microseconds, default end now and start now minus the lookback; `minDuration`/`maxDuration`
 *   as Go durations; `tags` a JSON map and `tag` key:value; `limit` default 100);
 * - matching, as Jaeger's in-memory store does it (plugin/storage/memory): a trace matches when one
 *   span has the service, the operation, a duration and a start time in range, and every tag among
 *   its tags, its process's tags or its logs' fields, compared as strings;
 * - the JSON model: model/json/model.go; OTLP spans stored as the collector translates them
 *   (see ../jaeger/jaeger-model.ts), trace ids printed without leading zeros (model.TraceID.String()).
 * Traces come back newest first (start of their earliest span). Jaeger's adjusters (clock skew,
 * duplicate span ids) are not reproduced: the test traces need none. Faults make it a Jaeger that
 * never answers, or something else answering at Jaeger's URL.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AttributeValue, Attributes, Trace, TraceSpan } from '../trace-model';
import type { JaegerKeyValue, JaegerSpan, JaegerTrace } from '../jaeger/jaeger-model';

const DEFAULT_LOOKBACK_MICROS = 2 * 24 * 3600 * 1_000_000;
const GO_DURATION_UNITS: Record<string, number> = { ns: 0.001, us: 1, µs: 1, ms: 1000, s: 1_000_000, m: 60_000_000, h: 3_600_000_000 };

function jaegerTraceId(id: string): string {
  return id.replace(/^0+(?=.)/, '');
}

function keyValue(key: string, value: AttributeValue): JaegerKeyValue {
  if (typeof value === 'boolean') return { key, type: 'bool', value };
  if (typeof value === 'number') return { key, type: Number.isInteger(value) ? 'int64' : 'float64', value };
  return { key, type: 'string', value: typeof value === 'string' ? value : JSON.stringify(value) };
}

const keyValues = (attributes: Attributes) => Object.entries(attributes).map(([key, value]) => keyValue(key, value));

function jaegerSpan(span: TraceSpan, processID: string): JaegerSpan {
  const tags = keyValues(span.attributes);
  if (span.kind !== 'unspecified') tags.push(keyValue('span.kind', span.kind));
  if (span.status.code !== 'unset') tags.push(keyValue('otel.status_code', span.status.code.toUpperCase()));
  if (span.status.code === 'error') tags.push(keyValue('error', true));
  if (span.status.message) tags.push(keyValue('otel.status_description', span.status.message));
  tags.push(keyValue('otel.scope.name', 'portolan-test'));
  return {
    traceID: jaegerTraceId(span.traceId),
    spanID: span.spanId,
    flags: 1,
    operationName: span.name,
    references: span.parentSpanId ? [{ refType: 'CHILD_OF', traceID: jaegerTraceId(span.traceId), spanID: span.parentSpanId }] : [],
    startTime: span.startTimeUnixMicros,
    duration: span.durationMicros,
    tags,
    logs: span.events.map((event) => ({ timestamp: event.timeUnixMicros, fields: [keyValue('event', event.name), ...keyValues(event.attributes)] })),
    processID,
    warnings: null,
  };
}

/** What Jaeger would hold after receiving these traces over OTLP. */
export function toJaegerTrace(trace: Trace): JaegerTrace {
  const processes: JaegerTrace['processes'] = {};
  const processIds = new Map<string, string>();
  const spans = trace.spans.map((span) => {
    const { 'service.name': serviceName, ...tags } = span.resource;
    const key = JSON.stringify(span.resource);
    if (!processIds.has(key)) {
      const id = `p${processIds.size + 1}`;
      processIds.set(key, id);
      processes[id] = { serviceName: String(serviceName ?? span.service), tags: keyValues(tags) };
    }
    return jaegerSpan(span, processIds.get(key)!);
  });
  return { traceID: jaegerTraceId(trace.traceId), spans, processes, warnings: null };
}

function parseGoDuration(value: string): number | undefined {
  if (!/^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/.test(value)) return undefined;
  let total = 0;
  for (const [, amount, , unit] of value.matchAll(/([0-9]+(\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(amount) * GO_DURATION_UNITS[unit];
  return total;
}

interface Search {
  service: string;
  operation: string;
  startMin: number;
  startMax: number;
  durationMin: number;
  durationMax: number;
  tags: Record<string, string>;
  limit: number;
}

function parseSearch(params: URLSearchParams, nowMicros: number): Search | string {
  const service = params.get('service') ?? '';
  if (!service) return "parameter 'service' is required";
  const time = (name: string, fallback: number) => {
    const raw = params.get(name);
    if (!raw) return fallback;
    return /^[0-9]+$/.test(raw) ? Number(raw) : undefined;
  };
  const startMin = time('start', nowMicros - DEFAULT_LOOKBACK_MICROS);
  const startMax = time('end', nowMicros);
  if (startMin === undefined) return "unable to parse param 'start'";
  if (startMax === undefined) return "unable to parse param 'end'";
  const duration = (name: string) => (params.get(name) ? parseGoDuration(params.get(name)!) : 0);
  const durationMin = duration('minDuration');
  const durationMax = duration('maxDuration');
  if (durationMin === undefined) return "unable to parse param 'minDuration'";
  if (durationMax === undefined) return "unable to parse param 'maxDuration'";
  if (durationMin !== 0 && durationMax !== 0 && durationMax < durationMin) return "'maxDuration' should be greater than 'minDuration'";
  const tags: Record<string, string> = {};
  for (const tag of params.getAll('tag')) {
    const [key, ...rest] = tag.split(':');
    if (rest.length === 0) return `malformed 'tag' parameter, expecting key:value, received: ${tag}`;
    tags[key] = rest.join(':');
  }
  for (const json of params.getAll('tags')) {
    try {
      Object.assign(tags, JSON.parse(json));
    } catch {
      return "malformed 'tags' parameter, cannot unmarshal JSON";
    }
  }
  const limit = params.get('limit') ? Number(params.get('limit')) : 100;
  if (!Number.isInteger(limit)) return "unable to parse param 'limit'";
  return { service, operation: params.get('operation') ?? '', startMin, startMax, durationMin, durationMax, tags, limit };
}

const text = (tag: JaegerKeyValue) => String(tag.value);

function spanMatches(trace: JaegerTrace, span: JaegerSpan, search: Search): boolean {
  const process = trace.processes[span.processID];
  if (process?.serviceName !== search.service) return false;
  if (search.operation && span.operationName !== search.operation) return false;
  if (search.durationMin && span.duration < search.durationMin) return false;
  if (search.durationMax && span.duration > search.durationMax) return false;
  if (span.startTime < search.startMin || span.startTime > search.startMax) return false;
  const candidates = [...(span.tags ?? []), ...(process.tags ?? []), ...(span.logs ?? []).flatMap((log) => log.fields ?? [])];
  return Object.entries(search.tags).every(([key, value]) => candidates.some((tag) => tag.key === key && text(tag) === value));
}

const traceStart = (trace: JaegerTrace) => trace.spans.reduce((earliest, span) => Math.min(earliest, span.startTime), Infinity);

export interface JaegerQueryDouble {
  url: string;
  /** Paths and queries received, for asserting what the client asked. */
  requests: string[];
  close(): Promise<void>;
}

export interface JaegerDoubleFaults {
  /** Takes requests and never answers them, like a Jaeger stuck on its storage. */
  silent?: boolean;
  /** Answers every request 200 with this as JSON, like another service listening at Jaeger's URL. */
  answer?: unknown;
}

export async function startJaegerQueryDouble(traces: JaegerTrace[], now: () => number = () => Date.now(), faults: JaegerDoubleFaults = {}): Promise<JaegerQueryDouble> {
  const requests: string[] = [];
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://double');
    requests.push(`${url.pathname}${url.search}`);
    if (faults.silent) return;
    const send = (code: number, body: unknown) => {
      response.statusCode = code;
      response.setHeader('Content-Type', 'application/json');
      response.end(JSON.stringify(body));
    };
    const fail = (code: number, msg: string) => send(code, { data: null, total: 0, limit: 0, offset: 0, errors: [{ code, msg }] });
    const ok = (data: unknown[]) => send(200, { data, total: data.length, limit: 0, offset: 0, errors: null });
    if ('answer' in faults) return send(200, faults.answer);
    if (request.method !== 'GET') return fail(405, 'method not allowed');

    const services = () => [...new Set(traces.flatMap((trace) => Object.values(trace.processes).map((process) => process.serviceName)))].sort();
    let match: RegExpExecArray | null;
    if (url.pathname === '/api/services') return ok(services());
    if ((match = /^\/api\/services\/([^/]+)\/operations$/.exec(url.pathname))) {
      const service = decodeURIComponent(match[1]);
      const operations = traces.flatMap((trace) => trace.spans.filter((span) => trace.processes[span.processID]?.serviceName === service).map((span) => span.operationName));
      return ok([...new Set(operations)].sort());
    }
    if ((match = /^\/api\/traces\/([^/]+)$/.exec(url.pathname))) {
      const id = decodeURIComponent(match[1]).toLowerCase();
      if (!/^[0-9a-f]{1,32}$/.test(id)) return fail(400, `cannot parse traceID param: ${id}`);
      const trace = traces.find((candidate) => candidate.traceID === jaegerTraceId(id));
      return trace ? ok([trace]) : fail(404, 'trace not found');
    }
    if (url.pathname === '/api/traces') {
      const search = parseSearch(url.searchParams, now() * 1000);
      if (typeof search === 'string') return fail(400, search);
      const found = traces.filter((trace) => trace.spans.some((span) => spanMatches(trace, span, search)));
      return ok(found.sort((a, b) => traceStart(b) - traceStart(a)).slice(0, search.limit));
    }
    return fail(404, `404 page not found: ${url.pathname}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Requests a silent double holds would keep it open forever.
        server.closeAllConnections();
      }),
  };
}
