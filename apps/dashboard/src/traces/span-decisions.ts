/**
 * The gateway's policy decisions as its spans carry them (apps/gateway/src/telemetry/request-spans.ts,
 * a contract): on the request's SERVER span `portolan.retry.attempts`, `portolan.rate_limited` and
 * `portolan.breaker.state`; on each upstream attempt's CLIENT span `portolan.attempt`,
 * `portolan.retry.backoff_ms` and `portolan.outlier.ejected`. Attributes and events whose key
 * mentions a retry, a breaker, a rate limit, an attempt or an outlier ejection are highlighted.
 */
import type { AttributeValue, SpanEvent, TraceSpan } from '@portolan/api';

const DECISION_KEY = /retr(y|ies)|breaker|rate[ ._-]?limit|attempt|outlier/i;

export function isDecisionKey(key: string): boolean {
  return DECISION_KEY.test(key);
}

export function isDecisionEvent(event: SpanEvent): boolean {
  return isDecisionKey(event.name) || Object.keys(event.attributes).some(isDecisionKey);
}

/** Short labels for a span's decisions, for its row in the waterfall. */
export function spanBadges(span: TraceSpan): string[] {
  const a = span.attributes;
  const badges: string[] = [];
  const attempt = Number(a['portolan.attempt']);
  if (Number.isFinite(attempt) && attempt > 1) badges.push(`retry ${attempt - 1}`);
  const attempts = Number(a['portolan.retry.attempts']);
  if (Number.isFinite(attempts) && attempts > 1) badges.push(`${attempts} attempts`);
  if (a['portolan.rate_limited'] === true) badges.push('rate limited');
  const breaker = a['portolan.breaker.state'];
  if (typeof breaker === 'string' && breaker !== 'closed') badges.push(`breaker ${breaker}`);
  if (a['portolan.outlier.ejected'] === true) badges.push('ejected');
  if (span.events.some(isDecisionEvent) && badges.length === 0) badges.push('decision event');
  return badges;
}

export interface DecisionSummary {
  /** Attempts after the first. */
  retries: number;
  rateLimited: number;
  /** Requests that met an open or half-open breaker. */
  breakerNotClosed: number;
  ejections: number;
}

export function decisionSummary(spans: readonly TraceSpan[]): DecisionSummary {
  const summary: DecisionSummary = { retries: 0, rateLimited: 0, breakerNotClosed: 0, ejections: 0 };
  for (const span of spans) {
    const a = span.attributes;
    const attempt = Number(a['portolan.attempt']);
    if (Number.isFinite(attempt) && attempt > 1) summary.retries++;
    if (a['portolan.rate_limited'] === true) summary.rateLimited++;
    const breaker = a['portolan.breaker.state'];
    if (typeof breaker === 'string' && breaker !== 'closed') summary.breakerNotClosed++;
    if (a['portolan.outlier.ejected'] === true) summary.ejections++;
  }
  return summary;
}

export function attributeText(value: AttributeValue): string {
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** "850 µs", "12.35 ms", "2.40 s": microseconds for people. */
export function formatMicros(micros: number): string {
  if (!Number.isFinite(micros)) return '—';
  if (micros < 1_000) return `${Math.round(micros)} µs`;
  if (micros < 1_000_000) return `${(micros / 1_000).toFixed(micros < 10_000 ? 2 : micros < 100_000 ? 1 : 0)} ms`;
  return `${(micros / 1_000_000).toFixed(2)} s`;
}

/** Local date and time with milliseconds, for a span or trace start. */
export function formatStart(rfc3339: string): string {
  const date = new Date(rfc3339);
  if (Number.isNaN(date.getTime())) return rfc3339;
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}
