import { describe, expect, it } from 'vitest';
import { backoffMs, compileRetry, isIdempotent, isRetriable, RequestRetries, RetryBudget, type TryOutcome } from './retry.js';

const defaults = compileRetry({});

describe('isRetriable', () => {
  it.each<[string, TryOutcome, string[], boolean]>([
    ['503 under the defaults (gateway-error)', { status: 503 }, [], true],
    ['500 is not a gateway error', { status: 500 }, [], false],
    ['500 under 5xx', { status: 500 }, ['5xx'], true],
    ['404 never, by class', { status: 404 }, ['5xx', 'gateway-error'], false],
    ['409 when listed as retriable status', { status: 409 }, ['retriable-status-codes'], true],
    ['connect failure under the defaults', { error: 'connect-failure' }, [], true],
    ['reset under the defaults', { error: 'reset' }, [], true],
    ['reset not retried under gateway-error alone', { error: 'reset' }, ['gateway-error'], false],
    ['per-try timeout counts as a gateway error', { error: 'timeout' }, ['gateway-error'], true],
  ])('%s', (_name, outcome, retryOn, expected) => {
    const compiled = retryOn.length ? compileRetry({ retryOn: retryOn as never, retriableStatusCodes: [409] }) : defaults;
    expect(isRetriable(outcome, compiled)).toBe(expected);
  });
});

describe('retries', () => {
  it.each([
    ['GET', true],
    ['PUT', true],
    ['DELETE', true],
    ['POST', false],
    ['PATCH', false],
  ])('%s idempotent: %s', (method, expected) => expect(isIdempotent(method)).toBe(expected));

  it('backs off exponentially from the base, capped; full jitter draws below the ceiling', () => {
    const compiled = compileRetry({ backoff: { baseInterval: '25ms', maxInterval: '80ms', jitter: 'none' } });
    expect([1, 2, 3, 4].map((n) => backoffMs(n, compiled, Math.random))).toEqual([25, 50, 80, 80]);
    expect(backoffMs(3, { ...compiled, jitter: 'full' }, () => 0.5)).toBe(40);
  });

  it('stops after the configured attempts', () => {
    const retries = new RequestRetries(compileRetry({ attempts: 2, retryOn: ['5xx'] }), new RetryBudget({ budgetPercent: 100, minRetryConcurrency: 10 }), true, () => 0);
    expect([retries.next({ status: 500 }).retry, retries.next({ status: 500 }).retry, retries.next({ status: 500 }).retry]).toEqual([true, true, false]);
  });

  it('does not retry when the method may not be (a POST without retryNonIdempotent)', () => {
    const retries = new RequestRetries(defaults, new RetryBudget(defaults), false, () => 0);
    expect(retries.next({ status: 503 }).retry).toBe(false);
  });

  it('honours Retry-After of a 503, capped at the longest backoff', () => {
    const compiled = compileRetry({ backoff: { baseInterval: '10ms', maxInterval: '2s' } });
    const retries = new RequestRetries(compiled, new RetryBudget(compiled), true, () => 0);
    expect(retries.next({ status: 503, retryAfter: '1' }).delayMs).toBe(1000);
    expect(retries.next({ status: 503, retryAfter: '60' }).delayMs).toBe(2000);
  });

  it('caps retries in flight at the budget during a total outage', () => {
    const compiled = compileRetry({ retryOn: ['5xx'], budget: { percent: 20, minRetryConcurrency: 3 } });
    const budget = new RetryBudget(compiled);
    const requests = Array.from({ length: 100 }, () => new RequestRetries(compiled, budget, true, () => 0));
    const decisions = requests.map((request) => request.next({ status: 500 }));
    expect(decisions.filter((d) => d.retry)).toHaveLength(20);
    expect(decisions.filter((d) => d.budgetExhausted)).toHaveLength(80);
    requests.slice(20).forEach((request) => request.finish());
    // 20 requests left: 20% is 4, but the 20 retries in flight are already over it; min 3 does not add to it.
    expect(new RequestRetries(compiled, budget, true, () => 0).next({ status: 500 }).budgetExhausted).toBe(true);
  });
});
