#!/usr/bin/env node
/** `portolan-gateway --control-plane URL --zone Z --pool P --listen host:port --bootstrap-token T`. */
import { readGatewayConfig } from './config.js';
import { Gateway } from './gateway.js';
import { log } from './telemetry/log.js';

async function main(): Promise<void> {
  const config = readGatewayConfig(process.argv.slice(2));
  const gateway = new Gateway(config);
  const urls = await gateway.start();
  log.info({ ...urls, zone: config.zone, pool: config.pool, controlPlane: config.controlPlane }, 'gateway listening');
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
