#!/usr/bin/env node
/** `portolan-gateway --control-plane URL --zone Z --pool P --listen host:port --bootstrap-token T`. */
import { randomBytes } from 'node:crypto';
import { startGlobalTracing } from '@portolan/telemetry';
import { readGatewayConfig } from './config.js';
import { Gateway } from './gateway.js';
import { log } from './telemetry/log.js';
import { GATEWAY_VERSION } from './version.js';

async function main(): Promise<void> {
  const settings = readGatewayConfig(process.argv.slice(2));
  // Named here rather than by the control plane, so the spans' service.instance.id is the name it registers with.
  const config = { ...settings, name: settings.name ?? `${settings.pool}-${settings.zone}-${randomBytes(3).toString('hex')}` };
  const { endpoint, protocol, sampleRatio, slowThresholdMs } = config.tracing;
  const tracing = startGlobalTracing({
    serviceName: 'portolan-gateway',
    resourceAttributes: { 'service.instance.id': config.name, 'service.version': GATEWAY_VERSION, 'portolan.zone': config.zone, 'portolan.pool': config.pool },
    endpoint,
    protocol,
    caPem: config.caPem,
    sampleRatio,
    slowThresholdMs,
    onExportFailure: (error) => log.warn({ endpoint, error: error.message }, 'cannot export spans (requests are not affected); dropping them until the collector accepts again'),
  });
  const gateway = new Gateway(config, tracing);
  const urls = await gateway.start();
  log.info({ ...urls, name: config.name, zone: config.zone, pool: config.pool, controlPlane: config.controlPlane, traces: endpoint || 'not exported' }, 'gateway listening');
  const stop = (signal: string) => {
    log.info({ signal }, 'draining');
    gateway.stop().then(
      () => process.exit(0),
      (error: Error) => {
        log.error({ error: error.message }, 'error while draining');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((error: Error) => {
  log.error({ error: error.message }, 'gateway cannot start');
  process.exit(1);
});
