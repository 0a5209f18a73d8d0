import { Logger } from '@nestjs/common';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createRootLogger, JsonLogger } from '../telemetry/logger';
import { MetricsRegistry } from '../telemetry/metrics';
import type { AuditEntry, AuditLog, NewAuditEntry } from './audit-log';
import { AuditRecorder } from './audit-recorder';

const entry: NewAuditEntry = {
  actor: 'alice',
  role: 'admin',
  action: 'delete',
  method: 'DELETE',
  path: '/apis/mesh.portolan.dev/v1alpha1/namespaces/shop/routes/checkout',
  object: { kind: 'Route', namespace: 'shop', name: 'checkout' },
  outcome: { status: 'Success', code: 200 },
  dryRun: false,
};

/** The JSON log lines written while the recorder runs. */
function captureLogs(): Array<Record<string, unknown>> {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(JSON.parse(String(chunk)));
      callback();
    },
  });
  Logger.overrideLogger(new JsonLogger(createRootLogger('info', destination)));
  return lines;
}

const logOf = (record: AuditLog['record']): AuditLog => ({ record, list: async () => ({ items: [] }), close: async () => {} });

describe('AuditRecorder', () => {
  afterEach(() => Logger.overrideLogger(new Logger()));

  it('writes each stored entry as one log line of component audit', async () => {
    const lines = captureLogs();
    const metrics = new MetricsRegistry();
    const recorder = new AuditRecorder(logOf(async (input) => ({ ...input, id: '0000000000000007', time: '2026-03-01T12:00:00.000Z' })), metrics);
    const stored = (await recorder.record(entry)) as AuditEntry;
    expect(stored.id).toBe('0000000000000007');
    expect(lines).toEqual([expect.objectContaining({ level: 'info', component: 'audit', msg: 'alice delete Route shop/checkout: 200', audit: stored })]);
    expect((await metrics.auditWriteFailures.get()).values[0]?.value ?? 0).toBe(0);
  });

  it('logs an entry it could not store as an error with the whole entry, counts it, and does not fail', async () => {
    const lines = captureLogs();
    const metrics = new MetricsRegistry();
    const recorder = new AuditRecorder(logOf(async () => { throw new Error('Consul at http://consul:8500 is unavailable (ECONNREFUSED)'); }), metrics);
    await expect(recorder.record(entry)).resolves.toBeUndefined();
    await expect(recorder.record({ ...entry, actor: undefined, outcome: { status: 'Failure', code: 401 } })).resolves.toBeUndefined();
    expect(lines.map((line) => [line.level, line.component, line.msg])).toEqual([
      ['error', 'audit', 'audit entry not stored: alice delete Route shop/checkout: 200: Consul at http://consul:8500 is unavailable (ECONNREFUSED)'],
      ['error', 'audit', 'audit entry not stored: (not authenticated) delete Route shop/checkout: 401: Consul at http://consul:8500 is unavailable (ECONNREFUSED)'],
    ]);
    expect(lines[0].audit).toEqual(entry);
    expect((await metrics.auditWriteFailures.get()).values[0].value).toBe(2);
  });
});
