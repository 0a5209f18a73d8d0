/**
 * `portolan` command line.
 *   portolan start                   run the control plane (same as npm start)
 *   portolan kubeconfig [options]    print a kubeconfig for the running control plane
 *     --data-dir DIR   data directory (default: PORTOLAN_DATA_DIR or .portolan)
 *     --server URL     API URL (default: the one the running control plane recorded)
 *     --token TOKEN    bearer token (default: PORTOLAN_ADMIN_TOKEN or the generated admin token)
 *     --context NAME   context name (default: portolan)
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BOOT_CONFIG_VARIABLES } from './config/boot-config';
import { renderKubeconfig } from './kubeconfig';
import { main as startControlPlane } from './main';
import { PORTOLAN_VERSION } from './version';

class CliError extends Error {}

function readRequired(file: string, what: string): string {
  if (!existsSync(file)) throw new CliError(`${what} not found at ${file}: start the control plane first (npm start), or pass --data-dir`);
  return readFileSync(file, 'utf8');
}

function kubeconfig(args: string[]): void {
  const { values } = parseArgs({
    args,
    options: { 'data-dir': { type: 'string' }, server: { type: 'string' }, token: { type: 'string' }, context: { type: 'string' } },
  });
  const dataDir = resolve(values['data-dir'] ?? process.env.PORTOLAN_DATA_DIR ?? BOOT_CONFIG_VARIABLES.PORTOLAN_DATA_DIR.default);
  const server = values.server ?? (JSON.parse(readRequired(join(dataDir, 'endpoint.json'), 'the control plane endpoint')) as { apiUrl: string }).apiUrl;
  const caPem = readRequired(join(dataDir, 'tls', 'ca.crt'), 'the control plane CA');
  const token = values.token ?? process.env.PORTOLAN_ADMIN_TOKEN ?? readRequired(join(dataDir, 'admin.token'), 'the generated admin token (use --token when tokens are configured)').trim();
  process.stdout.write(renderKubeconfig({ server, caPem, token, context: values.context }));
}

function run(argv: string[]): void {
  const [command, ...rest] = argv;
  switch (command) {
    case 'kubeconfig':
      return kubeconfig(rest);
    case 'start':
      void startControlPlane().catch((error: Error) => {
        process.stderr.write(`portolan: cannot start: ${error.message}\n`);
        process.exit(1);
      });
      return;
    case 'version':
    case '--version':
      process.stdout.write(`portolan ${PORTOLAN_VERSION}\n`);
      return;
    default:
      process.stderr.write('usage: portolan start | portolan kubeconfig [--data-dir DIR] [--server URL] [--token TOKEN] [--context NAME] | portolan version\n');
      process.exit(command ? 2 : 0);
  }
}

try {
  run(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`portolan: ${(error as Error).message}\n`);
  process.exit(1);
}
