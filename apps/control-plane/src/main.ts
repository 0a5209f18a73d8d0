/** `npm start` / `portolan start`: runs the control plane until SIGINT or SIGTERM. */
import { readBootConfig } from './config/boot-config';
import { startControlPlane } from './control-plane';

export async function main(): Promise<void> {
  const config = readBootConfig();
  const running = await startControlPlane(config);
  const lines = [
    `Portolan control plane is up.`,
    `  API (HTTPS):  ${running.apiUrl}`,
    running.opsUrl ? `  Health:       ${running.opsUrl}/healthz   Metrics: ${running.opsUrl}/metrics` : undefined,
    `  Store:        ${running.backend}`,
    `  Data:         ${config.dataDir}`,
    running.adminTokenFile ? `  Admin token:  ${running.adminTokenFile}` : undefined,
    running.adminTokenFile ? `  kubectl:      export KUBECONFIG=${running.kubeconfigFile}   (or: npx portolan kubeconfig > portolan.kubeconfig)` : `  kubectl:      npx portolan kubeconfig --token <your token> > portolan.kubeconfig`,
  ];
  process.stderr.write(`${lines.filter(Boolean).join('\n')}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal}: stopping the control plane\n`);
    running.close().then(
      () => process.exit(0),
      (error) => {
        process.stderr.write(`error while stopping: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`portolan: cannot start: ${error.message}\n`);
    process.exit(1);
  });
}
