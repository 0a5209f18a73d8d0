/**
 * Gateway settings, from flags (`--zone a`) or environment variables (PORTOLAN_GATEWAY_ZONE=a);
 * flags win. docs/gateway.md lists them; config.spec.ts fails if the table and this list drift.
 */
import { readFileSync } from 'node:fs';
import { parseDuration } from '@portolan/api';
import { checkOtlpEndpoint, OTLP_PROTOCOLS, parseSampleRatio, type OtlpProtocol } from '@portolan/telemetry';

export const GATEWAY_SETTINGS = {
  'control-plane': { env: 'PORTOLAN_CONTROL_PLANE', default: 'https://127.0.0.1:7443', description: 'URL of the control plane API.' },
  'ca-file': { env: 'PORTOLAN_CA_FILE', default: '', description: "PEM file of the CA that signed the control plane's certificate (<data dir>/tls/ca.crt)." },
  'bootstrap-token': { env: 'PORTOLAN_BOOTSTRAP_TOKEN', default: '', description: 'Token to register with.' },
  'bootstrap-token-file': { env: 'PORTOLAN_BOOTSTRAP_TOKEN_FILE', default: '', description: 'File holding the token to register with (<data dir>/bootstrap.token).' },
  name: { env: 'PORTOLAN_GATEWAY_NAME', default: '', description: 'Stable gateway name. Default: <pool>-<zone>-<random>.' },
  zone: { env: 'PORTOLAN_GATEWAY_ZONE', default: 'default', description: 'Zone the gateway runs in; it prefers upstream endpoints there.' },
  pool: { env: 'PORTOLAN_GATEWAY_POOL', default: 'default', description: 'Pool the gateway belongs to; mesh-scoped rate limits are shared across it.' },
  listen: { env: 'PORTOLAN_GATEWAY_LISTEN', default: '127.0.0.1:8080', description: 'host:port for proxied traffic. Port 0 picks a free port.' },
  'admin-listen': { env: 'PORTOLAN_GATEWAY_ADMIN_LISTEN', default: '127.0.0.1:9901', description: 'host:port for /metrics, /healthz, /ready and /config. Port 0 picks a free port.' },
  'state-dir': { env: 'PORTOLAN_GATEWAY_STATE_DIR', default: '.portolan-gateway', description: 'Where the last good configuration is kept, so a restart while the control plane is down still serves.' },
  transport: { env: 'PORTOLAN_GATEWAY_TRANSPORT', default: 'auto', description: 'Config transport: auto (WebSocket, falling back to long-poll), websocket or long-poll.' },
  'drain-timeout': { env: 'PORTOLAN_GATEWAY_DRAIN_TIMEOUT', default: '30s', description: 'Longest wait for in-flight requests on SIGTERM.' },
  'propagation-wait': { env: 'PORTOLAN_GATEWAY_PROPAGATION_WAIT', default: '10s', description: 'Longest wait, on SIGTERM, for the other gateways to ACK this one leaving.' },
  'drain-delay': {
    env: 'PORTOLAN_GATEWAY_DRAIN_DELAY',
    default: '5s',
    description: 'On SIGTERM, keep accepting for at least this long after announcing the drain (the registry shows Draining, /ready answers 503), so load balancers that follow the registry or probe /ready stop sending first (an ALB deregistration delay, a Kubernetes preStop sleep).',
  },
  'otlp-endpoint': {
    env: 'PORTOLAN_GATEWAY_OTLP_ENDPOINT',
    default: '',
    description: 'OTLP/HTTP traces URL (e.g. http://127.0.0.1:7080/v1/traces). Empty: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; both empty: spans are not exported (trace ids still flow). An https URL is trusted with --ca-file.',
  },
  'otlp-protocol': { env: 'PORTOLAN_GATEWAY_OTLP_PROTOCOL', default: 'http/protobuf', description: 'OTLP encoding: http/protobuf or http/json.' },
  'trace-sampling': {
    env: 'PORTOLAN_GATEWAY_TRACE_SAMPLING',
    default: '0.1',
    description: "Share of new traces exported, 0 to 1; a caller's sampled flag is honoured. Traces with an error or a slow request are exported whatever it says.",
  },
  'trace-slow-threshold': { env: 'PORTOLAN_GATEWAY_TRACE_SLOW_THRESHOLD', default: '1s', description: 'A request at least this long has its trace exported, sampled or not.' },
} as const;

export type SettingName = keyof typeof GATEWAY_SETTINGS;

export interface GatewayConfig {
  controlPlane: string;
  caPem?: string;
  bootstrapToken: string;
  name?: string;
  zone: string;
  pool: string;
  listen: { host: string; port: number };
  adminListen: { host: string; port: number };
  stateDir: string;
  transport: 'auto' | 'websocket' | 'long-poll';
  drainTimeoutMs: number;
  propagationWaitMs: number;
  drainDelayMs: number;
  tracing: {
    /** Empty: nothing is exported. */
    endpoint: string;
    protocol: OtlpProtocol;
    sampleRatio: number;
    slowThresholdMs: number;
  };
}

export class GatewayConfigError extends Error {
  readonly code = 'PORTOLAN_GATEWAY_CONFIG';
}

function parseFlags(argv: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new GatewayConfigError(`unexpected argument ${JSON.stringify(arg)}: settings are --name value or --name=value`);
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
    if (!(name in GATEWAY_SETTINGS)) throw new GatewayConfigError(`unknown flag --${name}; known: ${Object.keys(GATEWAY_SETTINGS).map((n) => `--${n}`).join(', ')}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new GatewayConfigError(`--${name} needs a value`);
    flags.set(name, value);
  }
  return flags;
}

function hostPort(name: SettingName, raw: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(raw);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65_535) throw new GatewayConfigError(`--${name} ${raw} is not host:port (e.g. 127.0.0.1:8080)`);
  return { host: match[1].replace(/^\[|\]$/g, '') || '127.0.0.1', port };
}

function duration(name: SettingName, raw: string): number {
  try {
    return parseDuration(raw);
  } catch {
    throw new GatewayConfigError(`--${name} ${raw} is not a duration (e.g. 500ms, 10s)`);
  }
}

function sampleRatio(raw: string): number {
  try {
    return parseSampleRatio(raw);
  } catch (error) {
    throw new GatewayConfigError(`--trace-sampling ${(error as Error).message} (e.g. 0.1)`);
  }
}

function otlpProtocol(raw: string): OtlpProtocol {
  const protocol = OTLP_PROTOCOLS.find((known) => known === raw);
  if (!protocol) throw new GatewayConfigError(`--otlp-protocol ${raw} is not one of ${OTLP_PROTOCOLS.join(', ')}`);
  return protocol;
}

/**
 * The flag's URL, else that of the standard OpenTelemetry variable (for a gateway run next to an
 * existing collector setup); an error names the one the URL came from.
 */
function otlpEndpoint(flagged: string, fromOtelVariable: string | undefined): string {
  const [setting, url] = flagged ? ['--otlp-endpoint ', flagged] : ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=', fromOtelVariable ?? ''];
  if (!url) return '';
  try {
    return checkOtlpEndpoint(url);
  } catch (error) {
    throw new GatewayConfigError(`${setting}${(error as Error).message} (e.g. http://127.0.0.1:4318/v1/traces)`);
  }
}

export function readGatewayConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const flags = parseFlags(argv);
  const read = (name: SettingName) => flags.get(name) ?? (env[GATEWAY_SETTINGS[name].env] || GATEWAY_SETTINGS[name].default);
  const caFile = read('ca-file');
  const tokenFile = read('bootstrap-token-file');
  const bootstrapToken = read('bootstrap-token') || (tokenFile ? readFileSync(tokenFile, 'utf8').trim() : '');
  if (!bootstrapToken) throw new GatewayConfigError('no bootstrap token: set --bootstrap-token or --bootstrap-token-file (the control plane writes <data dir>/bootstrap.token)');
  const transport = read('transport');
  if (transport !== 'auto' && transport !== 'websocket' && transport !== 'long-poll') {
    throw new GatewayConfigError(`--transport ${transport} is not one of auto, websocket, long-poll`);
  }
  return {
    controlPlane: read('control-plane').replace(/\/+$/, ''),
    caPem: caFile ? readFileSync(caFile, 'utf8') : undefined,
    bootstrapToken,
    name: read('name') || undefined,
    zone: read('zone'),
    pool: read('pool'),
    listen: hostPort('listen', read('listen')),
    adminListen: hostPort('admin-listen', read('admin-listen')),
    stateDir: read('state-dir'),
    transport,
    drainTimeoutMs: duration('drain-timeout', read('drain-timeout')),
    propagationWaitMs: duration('propagation-wait', read('propagation-wait')),
    drainDelayMs: duration('drain-delay', read('drain-delay')),
    tracing: {
      endpoint: otlpEndpoint(read('otlp-endpoint'), env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT),
      protocol: otlpProtocol(read('otlp-protocol')),
      sampleRatio: sampleRatio(read('trace-sampling')),
      slowThresholdMs: duration('trace-slow-threshold', read('trace-slow-threshold')),
    },
  };
}
