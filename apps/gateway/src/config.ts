/**
 * Gateway settings, from flags (`--zone a`) or environment variables (PORTOLAN_GATEWAY_ZONE=a);
 * flags win. docs/gateway.md lists them; config.spec.ts fails if the table and this list drift.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseDuration } from '@portolan/api';
import { parseAgentSpiffeId, PROTOCOL_DEFAULTS, spiffeIdsOf, type ClientCertificate } from '@portolan/agent-client';
import { checkOtlpEndpoint, OTLP_PROTOCOLS, parseSampleRatio, type OtlpProtocol } from '@portolan/telemetry';

export const GATEWAY_SETTINGS = {
  'control-plane': { env: 'PORTOLAN_CONTROL_PLANE', default: 'https://127.0.0.1:7443', description: 'URL of the control plane API.' },
  'ca-file': { env: 'PORTOLAN_CA_FILE', default: '', description: "PEM file of the CA that signed the control plane's certificate (<data dir>/tls/ca.crt)." },
  'bootstrap-token': { env: 'PORTOLAN_BOOTSTRAP_TOKEN', default: '', description: 'Token to register with.' },
  'bootstrap-token-file': { env: 'PORTOLAN_BOOTSTRAP_TOKEN_FILE', default: '', description: 'File holding the token to register with (<data dir>/bootstrap.token).' },
  'client-cert': {
    env: 'PORTOLAN_CLIENT_CERT',
    default: '',
    description:
      "PEM file of the gateway's client certificate (intermediates after it), presented on every connection to the control plane; required when the control plane verifies gateways (PORTOLAN_TLS_AGENT_CLIENT_CA_FILE). Its SPIFFE ID spiffe://<trust domain>/ns/default/gateway/<name> names the gateway. Read once at start.",
  },
  'client-key': { env: 'PORTOLAN_CLIENT_KEY', default: '', description: 'PEM file of the private key of --client-cert (unencrypted).' },
  name: { env: 'PORTOLAN_GATEWAY_NAME', default: '', description: "Stable gateway name. Default: the name in --client-cert's SPIFFE ID, else <pool>-<zone>-<random>." },
  zone: { env: 'PORTOLAN_GATEWAY_ZONE', default: 'default', description: 'Zone the gateway runs in; it prefers upstream endpoints there.' },
  pool: { env: 'PORTOLAN_GATEWAY_POOL', default: 'default', description: 'Pool the gateway belongs to; mesh-scoped rate limits are shared across it.' },
  listen: { env: 'PORTOLAN_GATEWAY_LISTEN', default: '127.0.0.1:8080', description: 'host:port for proxied traffic. Port 0 picks a free port.' },
  'admin-listen': { env: 'PORTOLAN_GATEWAY_ADMIN_LISTEN', default: '127.0.0.1:9901', description: 'host:port for /metrics, /healthz, /ready and /config. Port 0 picks a free port.' },
  'state-dir': { env: 'PORTOLAN_GATEWAY_STATE_DIR', default: '.portolan-gateway', description: 'Where the last good configuration is kept, so a restart while the control plane is down still serves.' },
  transport: { env: 'PORTOLAN_GATEWAY_TRANSPORT', default: 'auto', description: 'Config transport: auto (WebSocket, falling back to long-poll), websocket or long-poll.' },
  'reconnect-max': {
    env: 'PORTOLAN_GATEWAY_RECONNECT_MAX',
    default: '30s',
    description: 'Longest wait between attempts to reach the control plane (registering, the config stream, long-poll): each wait is random, up to 1 s doubling per failure and capped here, so gateways cut off together come back spread out. More gateways: a larger cap spreads them over longer.',
  },
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
  clientCertificate?: ClientCertificate;
  bootstrapToken: string;
  name?: string;
  zone: string;
  pool: string;
  listen: { host: string; port: number };
  adminListen: { host: string; port: number };
  stateDir: string;
  transport: 'auto' | 'websocket' | 'long-poll';
  reconnectMaxMs: number;
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

/** Below the first wait (PROTOCOL_DEFAULTS.reconnectBaseMs) a cap would turn backoff into a tight retry loop. */
function reconnectMax(raw: string): number {
  const ms = duration('reconnect-max', raw);
  if (ms < PROTOCOL_DEFAULTS.reconnectBaseMs) throw new GatewayConfigError(`--reconnect-max ${raw} is below the first wait of ${PROTOCOL_DEFAULTS.reconnectBaseMs} ms (e.g. 30s)`);
  return ms;
}

function readSettingFile(name: SettingName, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new GatewayConfigError(`--${name} ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** Both files or neither; each readable and PEM; the key the certificate's. */
function clientCertificate(certFile: string, keyFile: string): { certificate: X509Certificate; pems: ClientCertificate } | undefined {
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) {
    throw new GatewayConfigError(`--${certFile ? 'client-key' : 'client-cert'} is not set: --client-cert and --client-key go together (the certificate and its private key)`);
  }
  const certPem = readSettingFile('client-cert', certFile);
  const keyPem = readSettingFile('client-key', keyFile);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certPem);
  } catch (error) {
    throw new GatewayConfigError(`--client-cert ${certFile} is not a PEM certificate (${(error as Error).message})`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    throw new GatewayConfigError(`--client-key ${keyFile} is not an unencrypted PEM private key (${(error as Error).message})`);
  }
  if (!certificate.checkPrivateKey(key)) throw new GatewayConfigError(`--client-key ${keyFile} is not the private key of --client-cert ${certFile}`);
  return { certificate, pems: { certPem, keyPem } };
}

/** The gateway name a certificate's one SPIFFE ID gives; the control plane refuses any other (docs/agent-protocol.md). */
function gatewayNameIn(certificate: X509Certificate | undefined): string | undefined {
  const ids = certificate ? spiffeIdsOf(certificate) : [];
  const identity = ids.length === 1 ? parseAgentSpiffeId(ids[0]) : undefined;
  return identity?.role === 'gateway' ? identity.name : undefined;
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
  const client = clientCertificate(read('client-cert'), read('client-key'));
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
    ...(client ? { clientCertificate: client.pems } : {}),
    bootstrapToken,
    name: read('name') || gatewayNameIn(client?.certificate),
    zone: read('zone'),
    pool: read('pool'),
    listen: hostPort('listen', read('listen')),
    adminListen: hostPort('admin-listen', read('admin-listen')),
    stateDir: read('state-dir'),
    transport,
    reconnectMaxMs: reconnectMax(read('reconnect-max')),
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
