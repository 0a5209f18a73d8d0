/**
 * Reads traces from Jaeger's HTTP query API (GET /api/traces, /api/traces/{id}, /api/services,
 * /api/services/{service}/operations; parameters as parsed by jaegertracing/jaeger
 * cmd/query/app/query_parser.go) and maps them into the Portolan model.
 *
 * Differences from the embedded store, handled here:
 * - Jaeger's search needs a service, and so does a search here (400 naming `service`, as Jaeger
 *   answers): fanning out one search per service would cost a request per service per search.
 * - Jaeger has no status parameter: status=error becomes the tag `error=true`; every result is
 *   then checked against the full query (spanMatches), so status=ok and Jaeger's wider tag
 *   matching (it also matches log fields) narrow to the same answers. A filtered page can hold
 *   fewer than `limit` traces.
 * - Without `start`, Jaeger searches its default lookback (2 days), not everything it has.
 *
 * Whatever goes wrong on Jaeger's side (unreachable, no answer within the timeout, an error, an
 * answer that is not Jaeger's envelope and model) is a 503 naming Jaeger's URL, never a 500.
 */
import { ApiError } from '../../errors/api-error';
import { byNewestFirst, type ServiceOperations, type Trace, type TraceQuery } from '../trace-model';
import { spanMatches } from '../trace-query';
import type { TraceSource } from '../trace-source';
import { jaegerTraceProblem, traceFromJaeger, type JaegerTrace } from './jaeger-model';

/** A query API request, answer included, that takes longer is given up: the caller gets a 503 rather than waiting on a stuck Jaeger. */
export const JAEGER_TIMEOUT_MS = 10_000;

export interface JaegerTraceSourceOptions {
  timeoutMs?: number;
}

export class JaegerTraceSource implements TraceSource {
  private readonly timeoutMs: number;

  constructor(
    private readonly queryUrl: string,
    options: JaegerTraceSourceOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? JAEGER_TIMEOUT_MS;
  }

  async search(query: TraceQuery): Promise<Trace[]> {
    if (query.service === undefined) {
      const message = 'required with PORTOLAN_TRACE_BACKEND=jaeger: Jaeger searches one service at a time (GET /observability/v1/services lists them)';
      throw ApiError.of(400, 'BadRequest', `query parameter service: ${message}`, { causes: [{ field: 'service', message, reason: 'FieldValueRequired' }] });
    }
    const parameters = new URLSearchParams({ service: query.service, limit: String(query.limit) });
    if (query.operation !== undefined) parameters.set('operation', query.operation);
    const tags: Record<string, string> = Object.fromEntries(query.attributes.map(({ key, value }) => [key, value]));
    if (query.status === 'error') tags.error = 'true';
    if (Object.keys(tags).length > 0) parameters.set('tags', JSON.stringify(tags));
    if (query.startUnixMicros !== undefined) parameters.set('start', String(query.startUnixMicros));
    if (query.endUnixMicros !== undefined) parameters.set('end', String(query.endUnixMicros));
    if (query.minDurationMicros !== undefined) parameters.set('minDuration', `${query.minDurationMicros}us`);
    if (query.maxDurationMicros !== undefined) parameters.set('maxDuration', `${query.maxDurationMicros}us`);
    const traces = await this.traces(`/api/traces?${parameters}`);
    return traces
      .filter((trace) => trace.spans.some((span) => spanMatches(span, query)))
      .sort(byNewestFirst)
      .slice(0, query.limit);
  }

  async get(traceId: string): Promise<Trace | undefined> {
    // Jaeger answers 404 for an unknown trace: no traces.
    const [trace] = await this.traces(`/api/traces/${encodeURIComponent(traceId)}`, { notFoundIsEmpty: true });
    return trace;
  }

  async services(): Promise<ServiceOperations[]> {
    const names = (await this.names('/api/services')).sort();
    return Promise.all(names.map(async (name) => ({ name, operations: (await this.names(`/api/services/${encodeURIComponent(name)}/operations`)).sort() })));
  }

  private async traces(path: string, options: { notFoundIsEmpty?: boolean } = {}): Promise<Trace[]> {
    const data = await this.data(path, options);
    for (const trace of data) {
      const problem = jaegerTraceProblem(trace);
      if (problem) throw this.unusableAnswer(path, problem);
    }
    return (data as JaegerTrace[]).map(traceFromJaeger);
  }

  private async names(path: string): Promise<string[]> {
    const data = await this.data(path);
    if (!data.every((name) => typeof name === 'string')) throw this.unusableAnswer(path, 'names that are not all strings');
    return data as string[];
  }

  /** The `data` list of Jaeger's envelope `{ data, total, limit, offset, errors }`. */
  private async data(path: string, { notFoundIsEmpty = false } = {}): Promise<unknown[]> {
    let response: Response;
    let text: string;
    try {
      // The signal also covers reading the body: a Jaeger that sends headers and then stalls times out too.
      response = await fetch(`${this.queryUrl}${path}`, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(this.timeoutMs) });
      if (response.status === 404 && notFoundIsEmpty) {
        await response.body?.cancel();
        return [];
      }
      text = await response.text();
    } catch (error) {
      const why = (error as Error).name === 'TimeoutError' ? ` within ${this.timeoutMs} ms` : `: ${(error as Error).message}`;
      throw ApiError.of(503, 'ServiceUnavailable', `Jaeger's query API at ${this.queryUrl} did not answer GET ${path}${why}`);
    }
    if (!response.ok) {
      throw ApiError.of(503, 'ServiceUnavailable', `Jaeger's query API at ${this.queryUrl} answered ${response.status} to GET ${path}: ${text.slice(0, 300)}`);
    }
    let envelope: unknown;
    try {
      envelope = JSON.parse(text);
    } catch {
      throw this.unusableAnswer(path, 'something other than JSON');
    }
    const data = typeof envelope === 'object' && envelope !== null ? (envelope as { data?: unknown }).data : undefined;
    // Go encodes an empty slice as null.
    if (data === null) return [];
    if (!Array.isArray(data)) throw this.unusableAnswer(path, 'JSON that is not its envelope: `data` is not a list');
    return data;
  }

  private unusableAnswer(path: string, problem: string): ApiError {
    return ApiError.of(503, 'ServiceUnavailable', `Jaeger's query API at ${this.queryUrl} answered GET ${path} with ${problem}: is it Jaeger, and its query API (port 16686)?`);
  }
}
