import { describe, expect, it } from 'vitest';
import { healthOfErrorRate, healthOfLatency, healthOfLifecycle, worst } from './health';

describe('health colours (docs/dashboard.md)', () => {
  it.each([
    [null, 'NoData'],
    [undefined, 'NoData'],
    [Number.NaN, 'NoData'],
    [0, 'Healthy'],
    [0.09, 'Healthy'],
    [0.1, 'Degraded'],
    [10, 'Degraded'],
    [10.01, 'Failing'],
    [100, 'Failing'],
  ] as const)('a 5xx share of %s%% is %s (Kiali: 0.1%% degraded, above 10%% failing)', (percent, health) => {
    expect(healthOfErrorRate(percent)).toBe(health);
  });

  it.each([
    [null, 100, 'NoData'],
    [80, 100, 'Healthy'],
    [100, 100, 'Healthy'],
    [150, 100, 'Degraded'],
    [201, 100, 'Failing'],
  ] as const)('a p99 of %s ms against a %s ms target is %s', (p99, target, health) => {
    expect(healthOfLatency(p99, target)).toBe(health);
  });

  it.each([
    ['Healthy', 'Healthy'],
    ['Degraded', 'Degraded'],
    ['Draining', 'Degraded'],
    ['Offline', 'Failing'],
  ] as const)('a %s gateway is %s', (phase, health) => {
    expect(healthOfLifecycle(phase)).toBe(health);
  });

  it('takes the worst known health, and no data only when nothing is known', () => {
    expect(worst('Healthy', 'NoData', 'Degraded')).toBe('Degraded');
    expect(worst('Degraded', 'Failing', 'Healthy')).toBe('Failing');
    expect(worst('NoData', 'Healthy')).toBe('Healthy');
    expect(worst('NoData', 'NoData')).toBe('NoData');
    expect(worst()).toBe('NoData');
  });
});
