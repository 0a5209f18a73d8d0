import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../telemetry/metrics';
import { AuthLockout } from './auth-lockout';

const refusals = async (metrics: MetricsRegistry) => Object.fromEntries((await metrics.authRefusals.get()).values.map((value) => [value.labels.reason, value.value]));

describe('AuthLockout', () => {
  it('locks out the address that reached the limit, and no other, until its block ends; counting every refusal', async () => {
    let now = 0;
    const metrics = new MetricsRegistry();
    const warnings: unknown[] = [];
    const lockout = new AuthLockout({ maxFailures: 2, windowMs: 60_000, blockMs: 10_000 }, metrics, { warn: (fields: unknown) => void warnings.push(fields) } as never, () => now);
    lockout.failed('198.51.100.1', 'invalid_token');
    expect(lockout.retryAfterSeconds('198.51.100.1')).toBe(0);
    now = 500;
    lockout.failed('::ffff:198.51.100.1', 'expired_token');
    expect(lockout.retryAfterSeconds('198.51.100.1')).toBe(10);
    expect(lockout.retryAfterSeconds('198.51.100.2')).toBe(0);
    // Said once, when the lockout begins.
    lockout.failed('198.51.100.1', 'invalid_token');
    expect(warnings).toEqual([{ source: '198.51.100.1', failures: 2, lockedOutSeconds: 10, lastRefusal: 'expired_token' }]);
    now = 9_600;
    expect(lockout.retryAfterSeconds('198.51.100.1')).toBe(1);
    now = 10_500;
    expect(lockout.retryAfterSeconds('198.51.100.1')).toBe(0);
    expect(await refusals(metrics)).toEqual({ invalid_token: 2, expired_token: 1, locked_out: 2 });
  });

  it('still counts an address after others were swept as stale', () => {
    let now = 0;
    const lockout = new AuthLockout({ maxFailures: 2, windowMs: 1_000, blockMs: 5_000 }, new MetricsRegistry(), { warn: () => undefined }, () => now);
    lockout.failed('192.0.2.1', 'invalid_token');
    now = 900;
    lockout.failed('192.0.2.2', 'invalid_token');
    now = 1_500;
    // Sweeps 192.0.2.1 (its window ended); 192.0.2.2's still counts.
    lockout.failed('192.0.2.3', 'invalid_node_credential');
    lockout.failed('192.0.2.2', 'invalid_token');
    expect(lockout.retryAfterSeconds('192.0.2.2')).toBe(5);
    lockout.failed('192.0.2.1', 'invalid_token');
    expect(lockout.retryAfterSeconds('192.0.2.1')).toBe(0);
  });
});
