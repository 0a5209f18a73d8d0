/**
 * Reads traces from Jaeger's HTTP query API (GET /api/traces, /api/traces/{id}, /api/services,
 * /api/services/{service}/operations; parameters as parsed by jaegertracing/jaeger
 * cmd/query/app/query_parser.go) and maps them into the Portolan model.
 *
 * Differences from the embedded store, handled here:
 * - Jaeger's search needs a service: without one, every service is searched and the results merged.
 * - Jaeger has no status parameter: status=error becomes the tag `error=true`; every result is
 *   then checked against the full query (spanMatches), so status=ok and Jaeger's wider tag
 *   matching (it also matches log fields) narrow to the same answers. A filtered page can hold
 *   fewer than `limit` traces.
 * - Without `start`, Jaeger searches its default lookback (2 days), not everything it has.
 */
import { ApiError } from '../../errors/api-error';
import { byNewestFirst, type ServiceOperations, type Trace, type TraceQuery } from '../trace-model';
import { spanMatches } from '../trace-query';
import type { TraceSource } from '../trace-source';
import { traceFromJaeger, type JaegerResponse, type JaegerTrace } from './jaeger-model';

export class JaegerTraceSource implements TraceSource {
  constructor(
    private readonly queryUrl: string,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  async search(query: TraceQuery): Promise<Trace[]> {
    const services = query.service !== undefined ? [query.service] : await this.serviceNames();
    const pages = await Promise.all(services.map((service) => this.searchService(service, query)));
    const byId = new Map<string, Trace>();
    for (const trace of pages.flat()) byId.set(trace.traceId, trace);
    return [...byId.values()]
      .filter((trace) => trace.spans.some((span) => spanMatches(span, query)))
      .sort(byNewestFirst)
      .slice(0, query.limit);
  }

  async get(traceId: string): Promise<Trace | undefined> {
    const response = await this.call<JaegerTrace[]>(`/api/traces/${encodeURIComponent(traceId)}`, true);
    const trace = response?.data?.[0];
    return trace ? traceFromJaeger(trace) : undefined;
  }

  async services(): Promise<ServiceOperations[]> {
    const names = await this.serviceNames();
    const withOperations = await Promise.all(
      names.map(async (name) => {
        const response = await this.call<string[]>(`/api/services/${encodeURIComponent(name)}/operations`);
        return { name, operations: [...(response?.data ?? [])].sort() };
      }),
    );
    return withOperations.sort((a, b) => a.name.localeCompare(b.name));
  }

  private async serviceNames(): Promise<string[]> {
    const response = await this.call<string[]>('/api/services');
    return [...(response?.data ?? [])].sort();
  }

  private async searchService(service: string, query: TraceQuery): Promise<Trace[]> {
    const parameters = new URLSearchParams({ service, limit: String(query.limit) });
    if (query.operation !== undefined) parameters.set('operation', query.operation);
    const tags: Record<string, string> = Object.fromEntries(query.attributes.map(({ key, value }) => [key, value]));
    if (query.status === 'error') tags.error = 'true';
    if (Object.keys(tags).length > 0) parameters.set('tags', JSON.stringify(tags));
    if (query.startUnixMicros !== undefined) parameters.set('start', String(query.startUnixMicros));
    if (query.endUnixMicros !== undefined) parameters.set('end', String(query.endUnixMicros));
    if (query.minDurationMicros !== undefined) parameters.set('minDuration', `${query.minDurationMicros}us`);
    if (query.maxDurationMicros !== undefined) parameters.set('maxDuration', `${query.maxDurationMicros}us`);
    const response = await this.call<JaegerTrace[]>(`/api/traces?${parameters}`);
    return (response?.data ?? []).map(traceFromJaeger);
  }

  /** undefined for a 404 when the caller expects one (an unknown trace). */
  private async call<T>(path: string, notFoundIsAnswer = false): Promise<JaegerResponse<T> | undefined> {
    const url = `${this.queryUrl}${path}`;
    let response: Response;
    try {
      response = await this.fetchImpl(url, { headers: { accept: 'application/json' } });
    } catch (error) {
      throw ApiError.of(503, 'ServiceUnavailable', `Jaeger's query API at ${this.queryUrl} did not answer: ${(error as Error).message}`);
    }
    if (response.status === 404 && notFoundIsAnswer) {
      await response.body?.cancel();
      return undefined;
    }
    const text = await response.text();
    if (!response.ok) {
      throw ApiError.of(503, 'ServiceUnavailable', `Jaeger's query API answered ${response.status} to GET ${path}: ${text.slice(0, 300)}`);
    }
    try {
      return JSON.parse(text) as JaegerResponse<T>;
    } catch {
      throw ApiError.of(503, 'ServiceUnavailable', `Jaeger's query API answered GET ${path} with something other than JSON`);
    }
  }
}
