import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from './metrics';

const docs = readFileSync(resolve(__dirname, '../../../../docs/metrics.md'), 'utf8');
const controlPlaneSection = docs.slice(docs.indexOf('## Control plane'));

describe('the control plane metrics', () => {
  const metrics = new MetricsRegistry().registry.getMetricsAsArray().filter((metric) => metric.name.startsWith('portolan_'));

  it('are each documented in docs/metrics.md, and the table lists no metric that does not exist', () => {
    const documented = [...controlPlaneSection.matchAll(/^\| `(portolan_[a-z_]+)`/gm)].map((match) => match[1]);
    const registered = metrics.map((metric) => metric.name);
    expect(documented.sort()).toEqual(registered.filter((name) => name !== 'portolan_http_request_duration_seconds').sort());
    expect(controlPlaneSection).toContain('`portolan_http_request_duration_seconds`');
  });

  it('follow Prometheus naming: counters end in _total, durations are in seconds', () => {
    for (const metric of metrics) {
      const { type } = metric as unknown as { type: string };
      if (type === 'counter') expect(metric.name).toMatch(/_total$/);
      if (/duration|latency|_time/.test(metric.name)) expect(metric.name).toMatch(/_seconds(_total)?$/);
    }
  });
});
