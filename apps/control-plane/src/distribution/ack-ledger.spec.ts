import { afterEach, describe, expect, it } from 'vitest';
import { startConsulTestTarget, type ConsulTestTarget } from '../consul/consul-test-target';
import { ConsulAckLedger, type GatewayAnswers } from './ack-ledger';
import { readAckRequest } from './ack-request';

describe('ConsulAckLedger: gateways\' answers shared between replicas', () => {
  let target: ConsulTestTarget | undefined;
  const ledgers: ConsulAckLedger[] = [];
  afterEach(async () => {
    for (const ledger of ledgers.splice(0)) await ledger.close();
    await target?.close();
  });

  it('shares a rollout\'s worth of large NACKs: every one reaches the other replica, however many fit in one transaction', async () => {
    target = await startConsulTestTarget();
    const writer = new ConsulAckLedger(target.client(), 'replica-a');
    const reader = new ConsulAckLedger(target.client(), 'replica-b');
    ledgers.push(writer, reader);
    const seen = new Map<string, GatewayAnswers>();
    reader.onRemote((gatewayId, answers) => seen.set(gatewayId, answers));
    // A snapshot every gateway rejects with many long errors, kept as the control plane keeps them.
    const nack = readAckRequest({
      version: 'v9',
      revision: 9,
      status: 'NACK',
      errors: Array.from({ length: 100 }, (_, index) => ({ resource: `Route/default/r${index}`, message: `é${'x'.repeat(3_000)}` })),
    });
    const gateways = Array.from({ length: 64 }, (_, index) => `gw-${index}`);
    for (const gatewayId of gateways) writer.publish(gatewayId, { lastNack: { version: nack.version, revision: nack.revision, time: new Date().toISOString(), errors: nack.errors! } });
    await expect.poll(() => seen.size, { timeout: 20_000 }).toBe(gateways.length);
    expect(seen.get('gw-63')!.lastNack!.errors).toHaveLength(20);
  });
});
