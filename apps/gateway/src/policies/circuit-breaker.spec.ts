import { describe, expect, it } from 'vitest';
import { CircuitBreaker, ConcurrencyLimiter } from './circuit-breaker.js';

const settings = { minimumRequests: 10, failureRatePercent: 50, windowMs: 10_000, openDurationMs: 5_000, halfOpenProbes: 1 };

function feed(breaker: CircuitBreaker, outcomes: string, now = 0) {
  for (const outcome of outcomes) {
    const admission = breaker.tryAcquire(now);
    if (!admission.allowed) continue;
    if (outcome === 'F') breaker.onFailure(now, admission.probe);
    else breaker.onSuccess(now, admission.probe);
  }
}

describe('CircuitBreaker', () => {
  it.each([
    ['10 requests, 5 failures: opens', 'FSFSFSFSFS', 'open'],
    ['9 requests, all failures: too few to judge', 'FFFFFFFFF', 'closed'],
    ['10 requests, 4 failures: stays closed', 'FSFSFSFSSS', 'closed'],
    ['20 requests, 10 failures: opens', 'SSSSSSSSSSFFFFFFFFFF', 'open'],
  ])('%s', (_name, outcomes, state) => {
    const breaker = new CircuitBreaker(settings);
    feed(breaker, outcomes);
    expect(breaker.current(0)).toBe(state);
  });

  it('fails fast while open, then a successful probe closes it', () => {
    const transitions: string[] = [];
    const breaker = new CircuitBreaker(settings, (to) => transitions.push(to));
    feed(breaker, 'FFFFFFFFFF', 0);
    expect(breaker.tryAcquire(4_999)).toEqual({ allowed: false, state: 'open', retryAfterMs: 1 });
    const probe = breaker.tryAcquire(5_000);
    expect(probe).toEqual({ allowed: true, probe: true });
    expect(breaker.tryAcquire(5_001)).toMatchObject({ allowed: false, state: 'half-open' });
    breaker.onSuccess(5_010, true);
    expect(breaker.tryAcquire(5_011)).toEqual({ allowed: true, probe: false });
    expect(transitions).toEqual(['open', 'half-open', 'closed']);
  });

  it('reopens for another open duration when the probe fails', () => {
    const breaker = new CircuitBreaker(settings);
    feed(breaker, 'FFFFFFFFFF', 0);
    breaker.tryAcquire(5_000);
    breaker.onFailure(5_100, true);
    expect(breaker.tryAcquire(10_099)).toMatchObject({ allowed: false, state: 'open' });
    expect(breaker.tryAcquire(10_100)).toEqual({ allowed: true, probe: true });
  });

  it('needs every one of several probes to succeed', () => {
    const breaker = new CircuitBreaker({ ...settings, halfOpenProbes: 2 });
    feed(breaker, 'FFFFFFFFFF', 0);
    const first = breaker.tryAcquire(5_000);
    const second = breaker.tryAcquire(5_000);
    expect([first.allowed, second.allowed]).toEqual([true, true]);
    breaker.onSuccess(5_001, true);
    expect(breaker.current(5_001)).toBe('half-open');
    breaker.onSuccess(5_002, true);
    expect(breaker.current(5_002)).toBe('closed');
  });

  it('forgets failures older than the window', () => {
    const breaker = new CircuitBreaker(settings);
    feed(breaker, 'FFFFF', 0);
    feed(breaker, 'FFFFF', 10_500);
    expect(breaker.current(10_500)).toBe('closed');
  });
});

describe('ConcurrencyLimiter', () => {
  it('admits up to its limit and again after a release', () => {
    const limiter = new ConcurrencyLimiter(2);
    expect([limiter.tryAcquire(), limiter.tryAcquire(), limiter.tryAcquire()]).toEqual([true, true, false]);
    limiter.release();
    expect(limiter.tryAcquire()).toBe(true);
  });
});
