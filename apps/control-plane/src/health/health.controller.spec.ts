/**
 * /readyz: ready when the store answers and, with delegated authentication, once the front-proxy
 * configuration has been read; otherwise 503 saying what it waits for.
 */
import type { Response } from 'express';
import { describe, expect, it } from 'vitest';
import type { ResourceStore } from '../store/resource-store';
import { HealthController } from './health.controller';

/** The parts of an Express response /readyz uses, recording what it was sent. */
function response() {
  const sent = { status: 200, body: '' };
  const res = {
    status: (code: number) => ((sent.status = code), res),
    type: () => res,
    send: (body: string) => ((sent.body = body), res),
  };
  return { sent, res: res as unknown as Response };
}

const store = (revision: () => Promise<number>) => ({ revision }) as unknown as ResourceStore;
const answers = store(async () => 42);

describe('readyz', () => {
  it('is ready with the store revision when delegation is off', async () => {
    const { sent, res } = response();
    await new HealthController(answers, null).readyz(res);
    expect(sent).toEqual({ status: 200, body: 'ok (revision 42)' });
  });

  it('is not ready while delegation has not read the ConfigMap, saying why', async () => {
    const reason = 'delegated authentication (PORTOLAN_KUBERNETES_AUTH=delegated) has not read ConfigMap kube-system/extension-apiserver-authentication yet: cannot read ConfigMap kube-system/extension-apiserver-authentication: 403 Forbidden';
    const { sent, res } = response();
    await new HealthController(answers, { notReadyReason: () => reason }).readyz(res);
    expect(sent).toEqual({ status: 503, body: `not ready: ${reason}` });
  });

  it('is ready once delegation has read it', async () => {
    const { sent, res } = response();
    await new HealthController(answers, { notReadyReason: () => undefined }).readyz(res);
    expect(sent).toEqual({ status: 200, body: 'ok (revision 42)' });
  });

  it('names the store first when the store does not answer', async () => {
    const { sent, res } = response();
    await new HealthController(store(() => Promise.reject(new Error('Consul is unreachable'))), { notReadyReason: () => 'not read yet' }).readyz(res);
    expect(sent).toEqual({ status: 503, body: 'store unavailable: Consul is unreachable' });
  });
});
