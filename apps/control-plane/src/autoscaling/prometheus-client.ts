/**
 * Instant queries through Prometheus' HTTP API (`/api/v1/query`), for the autoscaler's latency and
 * load readings (latency-queries.ts). Uses the global fetch: the control plane ships no HTTP client
 * library for outgoing calls.
 */

/** One series of an instant query's answer. `value` is null where Prometheus computed NaN (no data: 0/0, a quantile of no requests). */
export interface PrometheusSample {
  labels: Record<string, string>;
  value: number | null;
}

/** A failed query; names the Prometheus it asked and the query, so a log line is enough to reproduce it. */
export class PrometheusQueryError extends Error {
  override readonly name = 'PrometheusQueryError';

  constructor(
    readonly prometheusUrl: string,
    readonly query: string,
    reason: string,
  ) {
    super(`Prometheus at ${prometheusUrl}, query ${JSON.stringify(query)}: ${reason}`);
  }
}

/** The parts of Prometheus' answer envelope this client reads (https://prometheus.io/docs/prometheus/latest/querying/api/). */
interface QueryAnswer {
  status?: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: { resultType: string; result: unknown };
}

type SampleValue = [number, string];

/** Prometheus writes sample values as strings, with NaN and the infinities spelled out. */
function sampleValue([, text]: SampleValue): number | null {
  if (text === 'NaN') return null;
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(text);
}

export class PrometheusClient {
  private readonly queryUrl: string;

  /** `url` is where Prometheus serves its API (`http://prometheus:9090`, or with the path prefix it runs under). */
  constructor(
    readonly url: string,
    private readonly options: { timeoutMs?: number } = {},
  ) {
    this.queryUrl = `${url.replace(/\/+$/, '')}/api/v1/query`;
  }

  /** Evaluates `query` now (or at `time`); answers the vector's series, or one label-less sample for a scalar. */
  async query(query: string, time?: Date): Promise<PrometheusSample[]> {
    const fail = (reason: string) => new PrometheusQueryError(this.url, query, reason);
    const form = new URLSearchParams({ query });
    if (time) form.set('time', String(time.getTime() / 1000));
    let response: Response;
    try {
      // POST keeps long queries out of URL length limits; Prometheus accepts both.
      response = await fetch(this.queryUrl, { method: 'POST', body: form, signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw fail(`unreachable: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
    }
    const text = await response.text();
    let answer: QueryAnswer;
    try {
      answer = JSON.parse(text) as QueryAnswer;
    } catch {
      throw fail(`HTTP ${response.status} with a body that is not Prometheus' JSON: ${text.slice(0, 200)}`);
    }
    if (answer.status !== 'success' || !answer.data) throw fail(`HTTP ${response.status}, ${answer.errorType ?? 'error'}: ${answer.error ?? text.slice(0, 200)}`);
    const { resultType, result } = answer.data;
    if (resultType === 'vector') return (result as Array<{ metric: Record<string, string>; value: SampleValue }>).map((series) => ({ labels: series.metric, value: sampleValue(series.value) }));
    if (resultType === 'scalar') return [{ labels: {}, value: sampleValue(result as SampleValue) }];
    throw fail(`answered a ${resultType}, not an instant vector or scalar`);
  }
}
