/** Starts the control plane inside the test process on free loopback ports. */
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { readBootConfig } from '../../src/config/boot-config';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane';
import { ApiClient } from './api-client';
import { makeDataDir, removeDataDir } from './control-plane-process';

export interface InProcessControlPlane {
  running: RunningControlPlane;
  client: ApiClient;
  adminToken: string;
  dataDir: string;
  logs: string[];
  stop(): Promise<void>;
}

export async function startInProcess(env: Record<string, string> = {}, adminToken?: string): Promise<InProcessControlPlane> {
  const dataDir = makeDataDir();
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      logs.push(String(chunk));
      callback();
    },
  });
  const config = readBootConfig({ PORTOLAN_DATA_DIR: dataDir, PORTOLAN_API_PORT: '0', PORTOLAN_OPS_PORT: '0', PORTOLAN_LOG_LEVEL: 'info', ...env });
  const running = await startControlPlane(config, { logDestination: destination });
  const token = adminToken ?? env.PORTOLAN_ADMIN_TOKEN ?? readFileSync(running.adminTokenFile!, 'utf8').trim();
  const client = new ApiClient(running.apiUrl, running.caPem, token);
  return {
    running,
    client,
    adminToken: token,
    dataDir,
    logs,
    stop: async () => {
      await client.close();
      await running.close();
      removeDataDir(dataDir);
    },
  };
}
