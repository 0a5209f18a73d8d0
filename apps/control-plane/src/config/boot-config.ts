/**
 * Boot-time settings of the control plane (ports, data directory, credentials), read once from the
 * environment. They are not mesh state: nothing here is stored or distributed. The table in
 * docs/configuration.md lists the same variables; boot-config.spec.ts fails if the two drift.
 */
import { resolve } from 'node:path';
import { API_GROUP, API_VERSION, parseDuration } from '@portolan/api';
import { checkOtlpEndpoint, parseSampleRatio } from '@portolan/telemetry';
import type { ConsulSettings } from '../consul/consul-client';
import { defaultIdentity } from '../leadership/leadership';

export interface BootConfig {
  /** Where the embedded store, the CA and the generated admin token live. */
  dataDir: string;
  host: string;
  /** HTTPS port of the API (kubectl, dashboard, agents). 0 picks a free port. */
  apiPort: number;
  /** Plain-HTTP port of /healthz, /readyz, /metrics, /version and the OTLP receiver (POST /v1/traces) only. 0 picks a free port; -1 disables it. */
  opsPort: number;
  /** Host names and IPs written into the serving certificate besides localhost and 127.0.0.1. */
  tlsSans: string[];
  /** The operator's CA (both files or neither); unset, the control plane makes one (tls/certificates.ts). */
  tlsCa?: { certFile: string; keyFile: string };
  /** PEM bundle of the CA that signs gateways' client certificates; set, the agent protocol requires one (docs/agent-protocol.md). */
  agentClientCaFile?: string;
  tokensFile?: string;
  adminToken?: string;
  logLevel: string;
  /** Token gateways and instances register with; generated into <data dir>/bootstrap.token when unset. */
  bootstrapToken?: string;
  /** When failed authentications lock a source address out (docs/auth.md). */
  authLockout: AuthLockoutSettings;
  registry: RegistrySettings;
  /** How long the store keeps its change history (the leader compacts it). */
  history: HistorySettings;
  /** How many audit entries are kept, and for how long (docs/auth.md, "Audit log"). */
  audit: AuditSettings;
  /** Where resources and the registry live: the embedded database, or Consul for several replicas. */
  backend: EmbeddedBackend | ConsulBackend;
  /** Where received traces are kept and queried (docs/tracing.md). */
  tracing: TracingSettings;
  /** The spans of the control plane's own API requests (docs/tracing.md). */
  selfTracing: SelfTracingSettings;
  /** Where the autoscaler reads metrics and what it may scale with (docs/autoscaling.md). */
  autoscaling: AutoscalingSettings;
  /** The built dashboard (index.html and assets/), served under /ui/ on the API port. */
  dashboardDir: string;
  /** Serving the API through the Kubernetes aggregation layer (docs/kubernetes.md, "In a cluster"). */
  kubernetes: KubernetesSettings;
}

export interface KubernetesSettings {
  /** Kubeconfig to reach the Kubernetes API with; unset, KUBECONFIG, ~/.kube/config or the pod's service account. */
  kubeconfigFile?: string;
  /**
   * `delegated`: trust the user kube-apiserver's front proxy names in request headers (only with
   * its client certificate) and authorize it with SubjectAccessReviews; `off`: bearer tokens only.
   */
  authentication: 'off' | 'delegated';
  /** The APIService whose spec.caBundle the control plane keeps equal to its CA; unset, none is touched. */
  apiServiceName?: string;
}

export interface AutoscalingSettings {
  /** How often the leader evaluates every AutoscalePolicy (the HPA's sync period). */
  intervalMs: number;
  /** Prometheus' base URL, for policies whose metric source is Prometheus. */
  prometheusUrl?: string;
  /** Kubeconfig of the Kubernetes scaler; unset, KUBECONFIG or the in-cluster service account when there is one. */
  kubeconfigFile?: string;
  /** Whether a Kubernetes API is to be expected at all (a kubeconfig is set or the control plane runs in a cluster). */
  kubernetes: boolean;
  /** The local process scaler, when the gateway's entry point is configured. */
  localScaler?: { gatewayScript: string; extraArgs: string[] };
}

export interface SelfTracingSettings {
  /** Share of new traces kept, 0 to 1; a caller's sampled flag is honoured, error and slow traces are always kept. */
  sampleRatio: number;
  /**
   * OTLP/HTTP traces URL, from OpenTelemetry's OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. Unset: spans go
   * into the embedded trace store, or nowhere with Jaeger.
   */
  otlpEndpoint?: string;
}

export type TracingSettings = EmbeddedTraceBackend | JaegerTraceBackend;

export interface EmbeddedTraceBackend {
  kind: 'embedded';
  /** The store never holds more traces than this. */
  maxTraces: number;
  /** Nor more than this many bytes, as estimated from what it holds. */
  maxBytes: number;
  /** A trace is dropped this long after its last span arrived, error and slow traces too. */
  maxAgeMs: number;
  /** A trace with a span at least this long is slow, and kept in preference to ordinary traces. */
  slowThresholdMs: number;
}

export interface JaegerTraceBackend {
  kind: 'jaeger';
  /** Base URL of Jaeger's HTTP query API (the one the Jaeger UI uses, e.g. http://jaeger-query:16686). */
  queryUrl: string;
}

export interface EmbeddedBackend {
  kind: 'embedded';
}

export interface ConsulBackend {
  kind: 'consul';
  consul: ConsulSettings;
  /** This replica's name in the leader lock and logs. */
  replicaName: string;
  leaderSessionTtlMs: number;
  leaderLockDelayMs: number;
}

export interface AuthLockoutSettings {
  /** Failed authentications from one address within a window that lock it out. */
  maxFailures: number;
  windowMs: number;
  /** How long a locked-out address is refused every authentication attempt. */
  blockMs: number;
}

export interface RegistrySettings {
  heartbeatIntervalMs: number;
  /** Missing heartbeats for this long makes a node Offline. */
  ttlMs: number;
  /** An Offline node is removed this long after it went Offline. */
  removeAfterMs: number;
}

export interface AuditSettings {
  /** Entries kept at most, the newest. */
  maxEntries: number;
  /** Entries older than this are removed. */
  maxAgeMs: number;
}

export interface HistorySettings {
  /** Changes younger than this are never compacted: a watch or replica this far behind still resumes. */
  retentionMs: number;
  /** How often the leader compacts; 0 never. */
  compactionIntervalMs: number;
  /** Changes of each object kept however old, for history and rollback (at least 1). */
  keepPerObject: number;
}

export const BOOT_CONFIG_VARIABLES = {
  PORTOLAN_DATA_DIR: { default: '.portolan', description: 'Data directory: embedded store, CA, generated admin token.' },
  PORTOLAN_HOST: { default: '127.0.0.1', description: 'Address both listeners bind to.' },
  PORTOLAN_API_PORT: { default: '7443', description: 'HTTPS port of the API (kubectl, dashboard, gateways). 0 = any free port.' },
  PORTOLAN_OPS_PORT: { default: '7080', description: 'Plain-HTTP port for /healthz, /readyz, /metrics, /version and the OTLP/HTTP trace receiver (POST /v1/traces, embedded trace backend). 0 = any free port, -1 = off.' },
  PORTOLAN_TLS_SANS: { default: '', description: 'Extra comma-separated DNS names/IPs for the serving certificate.' },
  PORTOLAN_TLS_CA_CERT_FILE: { default: '', description: 'PEM certificate of the CA that signs the serving certificate (with PORTOLAN_TLS_CA_KEY_FILE). Unset: a CA made at first start, in the data directory (embedded) or shared in Consul KV (consul).' },
  PORTOLAN_TLS_CA_KEY_FILE: { default: '', description: 'PEM private key of PORTOLAN_TLS_CA_CERT_FILE.' },
  PORTOLAN_TLS_AGENT_CLIENT_CA_FILE: {
    default: '',
    description:
      'PEM bundle of the CA(s) that sign gateways\' (and service instances\') client certificates. Set: every agent-protocol request (/agent/v1: registration, node routes, the config stream) must present a client certificate it signed, valid now, with extended key usage clientAuth and a SPIFFE ID naming the node (docs/agent-protocol.md, "Client certificates"); read once at start.',
  },
  PORTOLAN_TOKENS_FILE: { default: '', description: 'YAML or JSON file of static tokens: `tokens: [{name, role, token}]`.' },
  PORTOLAN_ADMIN_TOKEN: { default: '', description: 'An admin token. When no token is configured, one is generated into <data dir>/admin.token.' },
  PORTOLAN_LOG_LEVEL: { default: 'info', description: 'trace, debug, info, warn, error.' },
  PORTOLAN_BOOTSTRAP_TOKEN: { default: '', description: 'Token gateways and service instances register with. When unset, one is generated into <data dir>/bootstrap.token.' },
  PORTOLAN_AUTH_FAILURE_LIMIT: { default: '20', description: 'Failed authentications (a wrong or expired token, bootstrap token or node credential; none sent is not one) from one source address within PORTOLAN_AUTH_FAILURE_WINDOW that lock the address out: every authentication attempt from it, with a correct token too, is then answered 429 for PORTOLAN_AUTH_LOCKOUT.' },
  PORTOLAN_AUTH_FAILURE_WINDOW: { default: '1m', description: 'The window failed authentications are counted in, from an address\'s first failure.' },
  PORTOLAN_AUTH_LOCKOUT: { default: '1m', description: 'How long a locked-out address is refused (429 with Retry-After).' },
  PORTOLAN_HEARTBEAT_INTERVAL: { default: '2s', description: 'How often nodes heartbeat (they add ±10% jitter).' },
  PORTOLAN_NODE_TTL: { default: '6s', description: 'A node that has not heartbeated for this long is Offline and no longer routed to (3 intervals). A gateway whose config stream drops without a close frame is Offline at once (docs/agent-protocol.md#lifecycle).' },
  PORTOLAN_NODE_REMOVE_AFTER: { default: '5m', description: 'An Offline node is removed from the registry this long after it went Offline.' },
  PORTOLAN_STORE: { default: 'embedded', description: '`embedded` (one process, data in the data directory) or `consul` (several replicas on one Consul).' },
  PORTOLAN_CHANGE_RETENTION: { default: '1h', description: 'Changes younger than this are never compacted, so a watch (or a replica cut off from Consul) at most this far behind resumes without missing any; older ones are removed except each object\'s newest PORTOLAN_HISTORY_LIMIT, and a watch from before them answers 410 Expired.' },
  PORTOLAN_COMPACTION_INTERVAL: { default: '5m', description: 'How often the leader compacts the change history (as kube-apiserver\'s --etcd-compaction-interval); 0s = never, the history grows forever.' },
  PORTOLAN_HISTORY_LIMIT: { default: '10', description: 'Changes of each existing object kept however old, for GET …/history and rollback (like a Deployment\'s revisionHistoryLimit); at least 1. A deleted object is forgotten once its deletion is older than PORTOLAN_CHANGE_RETENTION.' },
  PORTOLAN_AUDIT_MAX_ENTRIES: { default: '100000', description: 'Audit log: at most this many entries are kept, the newest (docs/auth.md, "Audit log"); about 0.5 KB each, in the embedded database or in Consul KV.' },
  PORTOLAN_AUDIT_MAX_AGE: { default: '2160h', description: 'Audit log: entries older than this are removed (2160h = 90 days).' },
  PORTOLAN_CONSUL_PREFIX: { default: 'portolan', description: 'Consul KV prefix for resources, the change log and the leader lock.' },
  PORTOLAN_REPLICA_NAME: { default: '(host name:pid)', description: 'This replica\'s name in the leader lock, shared ACKs and logs; must differ between replicas (set it where every container is pid 1 on the same host name).' },
  PORTOLAN_LEADER_SESSION_TTL: { default: '15s', description: 'TTL of the Consul session behind the leader lock (Consul accepts 10s to 24h).' },
  PORTOLAN_LEADER_LOCK_DELAY: { default: '15s', description: 'Consul lock-delay: after a leader is lost, no replica may take the lock for this long.' },
  PORTOLAN_TRACE_BACKEND: { default: 'embedded', description: '`embedded` (the control plane receives traces on the ops port and keeps recent ones in memory) or `jaeger` (the trace API reads Jaeger\'s query API; exporters send to Jaeger or a Collector).' },
  PORTOLAN_JAEGER_QUERY_URL: { default: '', description: 'Base URL of Jaeger\'s HTTP query API, e.g. http://jaeger-query:16686; required with PORTOLAN_TRACE_BACKEND=jaeger.' },
  PORTOLAN_TRACE_STORE_MAX_TRACES: { default: '10000', description: 'Embedded trace store: at most this many traces.' },
  PORTOLAN_TRACE_STORE_MAX_BYTES: { default: '64Mi', description: 'Embedded trace store: at most this many bytes (estimated size of the spans held); a number of bytes or 512Ki, 64Mi, 1Gi.' },
  PORTOLAN_TRACE_STORE_MAX_AGE: { default: '1h', description: 'Embedded trace store: a trace is dropped this long after its last span arrived.' },
  PORTOLAN_TRACE_SLOW_THRESHOLD: { default: '1s', description: 'A trace with a span at least this long is slow: like error traces, kept while ordinary traces are evicted.' },
  PORTOLAN_TRACE_SAMPLING: { default: '0.1', description: 'Share of the traces of the control plane\'s own API requests that are kept, 0 to 1; a caller\'s sampled flag is honoured, and failed (5xx) or slow requests are kept whatever it says.' },
  PORTOLAN_AUTOSCALE_INTERVAL: { default: '15s', description: 'How often the leader evaluates every AutoscalePolicy (the HPA\'s --horizontal-pod-autoscaler-sync-period).' },
  PORTOLAN_PROMETHEUS_URL: { default: '', description: 'Base URL of Prometheus\' HTTP API (e.g. http://prometheus:9090), for AutoscalePolicies whose metric source is Prometheus.' },
  PORTOLAN_KUBECONFIG: { default: '', description: 'Kubeconfig the Kubernetes scaler, delegated authentication and the APIService caBundle use. Unset: $KUBECONFIG, or the pod\'s service account when the control plane runs in a cluster.' },
  PORTOLAN_KUBERNETES_AUTH: { default: 'off', description: '`off` (bearer tokens only) or `delegated`: behind the Kubernetes aggregation layer, believe the user kube-apiserver\'s front proxy names in X-Remote-User/-Group/-Extra- (only with its client certificate, per ConfigMap kube-system/extension-apiserver-authentication) and authorize it with SubjectAccessReviews (docs/auth.md). Bearer tokens keep working.' },
  PORTOLAN_APISERVICE_NAME: { default: '', description: 'The APIService routing the group to the control plane (v1alpha1.mesh.portolan.dev): its spec.caBundle is patched with the CA of the serving certificate, at start and whenever it differs. Unset: no APIService is touched.' },
  PORTOLAN_LOCAL_SCALER_GATEWAY: { default: '', description: 'The gateway\'s built entry point (apps/gateway/dist/main.js): enables the Local scaler, which starts and stops gateway processes on this machine (npm start sets it).' },
  PORTOLAN_LOCAL_SCALER_GATEWAY_ARGS: { default: '', description: 'Extra arguments, space-separated, for every gateway the Local scaler starts (e.g. --otlp-endpoint URL).' },
  PORTOLAN_DASHBOARD_DIR: { default: '', description: 'Directory of the built dashboard, served under /ui/ on the API port. Unset: apps/dashboard/dist next to the control plane, which `npm run build` fills.' },
  CONSUL_HTTP_ADDR: { default: '127.0.0.1:8500', description: 'Consul HTTP(S) address; `https://` or CONSUL_HTTP_SSL=true for TLS. Every replica must use the same Consul agent (or the same server address): TTL checks live on the agent that registered them.' },
  CONSUL_HTTP_TOKEN: { default: '', description: 'Consul ACL token: key_prefix write on the prefix, session write, service write for portolan-gateway and the services instances register under, service read on all services (other tools\' instances are routed to), node read, agent read (to check that every replica uses the same agent).' },
  CONSUL_HTTP_SSL: { default: 'false', description: 'Use HTTPS when CONSUL_HTTP_ADDR has no scheme.' },
  CONSUL_CACERT: { default: '', description: 'PEM file of the CA that signed Consul\'s certificate.' },
  CONSUL_CLIENT_CERT: { default: '', description: 'PEM client certificate, when Consul verifies clients.' },
  CONSUL_CLIENT_KEY: { default: '', description: 'PEM key of CONSUL_CLIENT_CERT.' },
} as const;

type Variable = keyof typeof BOOT_CONFIG_VARIABLES;

/**
 * apps/dashboard/dist of the same checkout: this file is apps/control-plane/src/config (specs) or
 * apps/control-plane/dist/config (built), the same depth either way.
 */
const DEFAULT_DASHBOARD_DIR = resolve(__dirname, '../../../dashboard/dist');

export class BootConfigError extends Error {
  readonly code = 'PORTOLAN_BOOT_CONFIG';
}

function port(env: NodeJS.ProcessEnv, name: Variable, allowOff: boolean): number {
  const raw = env[name] || BOOT_CONFIG_VARIABLES[name].default;
  const value = Number(raw);
  const min = allowOff ? -1 : 0;
  if (!Number.isInteger(value) || value < min || value > 65_535) {
    throw new BootConfigError(`${name}=${raw} is not a port: use a number from ${min} to 65535`);
  }
  return value;
}

function duration(env: NodeJS.ProcessEnv, name: Variable): number {
  const raw = env[name] || BOOT_CONFIG_VARIABLES[name].default;
  try {
    return parseDuration(raw);
  } catch {
    throw new BootConfigError(`${name}=${raw} is not a duration: use e.g. 500ms, 2s, 5m`);
  }
}

function backend(env: NodeJS.ProcessEnv, bootstrapToken: string | undefined): EmbeddedBackend | ConsulBackend {
  const read = (name: Variable) => env[name] || BOOT_CONFIG_VARIABLES[name].default;
  const kind = read('PORTOLAN_STORE');
  if (kind === 'embedded') return { kind };
  if (kind !== 'consul') throw new BootConfigError(`PORTOLAN_STORE=${kind} is not a store: use embedded or consul`);
  if (!bootstrapToken) {
    throw new BootConfigError('PORTOLAN_STORE=consul runs several replicas: set PORTOLAN_BOOTSTRAP_TOKEN so that every replica admits the same gateways');
  }
  const rawAddress = read('CONSUL_HTTP_ADDR');
  const ssl = read('CONSUL_HTTP_SSL') === 'true';
  const address = rawAddress.includes('://') ? rawAddress : `${ssl ? 'https' : 'http'}://${rawAddress}`;
  try {
    new URL(address);
  } catch {
    throw new BootConfigError(`CONSUL_HTTP_ADDR=${rawAddress} is not an address: use host:port or a URL such as https://consul:8501`);
  }
  const sessionTtlMs = duration(env, 'PORTOLAN_LEADER_SESSION_TTL');
  if (sessionTtlMs < 10_000 || sessionTtlMs > 86_400_000) {
    throw new BootConfigError(`PORTOLAN_LEADER_SESSION_TTL=${read('PORTOLAN_LEADER_SESSION_TTL')} is outside what Consul accepts for a session TTL: use 10s to 24h`);
  }
  return {
    kind,
    consul: {
      address,
      token: read('CONSUL_HTTP_TOKEN') || undefined,
      caFile: read('CONSUL_CACERT') || undefined,
      certFile: read('CONSUL_CLIENT_CERT') || undefined,
      keyFile: read('CONSUL_CLIENT_KEY') || undefined,
      prefix: read('PORTOLAN_CONSUL_PREFIX'),
    },
    replicaName: env.PORTOLAN_REPLICA_NAME || defaultIdentity(),
    leaderSessionTtlMs: sessionTtlMs,
    leaderLockDelayMs: duration(env, 'PORTOLAN_LEADER_LOCK_DELAY'),
  };
}

const BINARY_UNITS = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 } as const;

function bytes(env: NodeJS.ProcessEnv, name: Variable): number {
  const raw = env[name] || BOOT_CONFIG_VARIABLES[name].default;
  const match = /^([0-9]+)(Ki|Mi|Gi)?B?$/.exec(raw);
  const value = match ? Number(match[1]) * BINARY_UNITS[(match[2] ?? '') as keyof typeof BINARY_UNITS] : NaN;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new BootConfigError(`${name}=${raw} is not a size: use a number of bytes or e.g. 512Ki, 64Mi, 1Gi`);
  }
  return value;
}

function positiveInteger(env: NodeJS.ProcessEnv, name: Variable): number {
  const raw = env[name] || BOOT_CONFIG_VARIABLES[name].default;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) throw new BootConfigError(`${name}=${raw} is not a positive whole number`);
  return value;
}

function tracing(env: NodeJS.ProcessEnv): TracingSettings {
  const read = (name: Variable) => env[name] || BOOT_CONFIG_VARIABLES[name].default;
  const kind = read('PORTOLAN_TRACE_BACKEND');
  if (kind === 'jaeger') {
    const queryUrl = read('PORTOLAN_JAEGER_QUERY_URL');
    if (!queryUrl) {
      throw new BootConfigError('PORTOLAN_TRACE_BACKEND=jaeger reads traces from Jaeger: set PORTOLAN_JAEGER_QUERY_URL to its query API, e.g. http://jaeger-query:16686');
    }
    let url: URL;
    try {
      url = new URL(queryUrl);
    } catch {
      throw new BootConfigError(`PORTOLAN_JAEGER_QUERY_URL=${queryUrl} is not a URL: use e.g. http://jaeger-query:16686`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new BootConfigError(`PORTOLAN_JAEGER_QUERY_URL=${queryUrl} is not an http(s) URL: use e.g. http://jaeger-query:16686`);
    }
    return { kind, queryUrl: queryUrl.replace(/\/+$/, '') };
  }
  if (kind !== 'embedded') throw new BootConfigError(`PORTOLAN_TRACE_BACKEND=${kind} is not a trace backend: use embedded or jaeger`);
  return {
    kind,
    maxTraces: positiveInteger(env, 'PORTOLAN_TRACE_STORE_MAX_TRACES'),
    maxBytes: bytes(env, 'PORTOLAN_TRACE_STORE_MAX_BYTES'),
    maxAgeMs: duration(env, 'PORTOLAN_TRACE_STORE_MAX_AGE'),
    slowThresholdMs: duration(env, 'PORTOLAN_TRACE_SLOW_THRESHOLD'),
  };
}

function certificateAuthorityFiles(env: NodeJS.ProcessEnv): BootConfig['tlsCa'] {
  const certFile = env.PORTOLAN_TLS_CA_CERT_FILE || undefined;
  const keyFile = env.PORTOLAN_TLS_CA_KEY_FILE || undefined;
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) {
    throw new BootConfigError(`PORTOLAN_TLS_CA_${certFile ? 'KEY' : 'CERT'}_FILE is not set: the operator's CA needs both PORTOLAN_TLS_CA_CERT_FILE and PORTOLAN_TLS_CA_KEY_FILE`);
  }
  return { certFile: resolve(certFile), keyFile: resolve(keyFile) };
}

/** `check(raw)`, its error rethrown as a BootConfigError naming `name`, with an example to follow. */
function checked<T>(name: string, raw: string, check: (raw: string) => T, example: string): T {
  try {
    return check(raw);
  } catch (error) {
    throw new BootConfigError(`${name}=${(error as Error).message} (e.g. ${example})`);
  }
}

function selfTracing(env: NodeJS.ProcessEnv): SelfTracingSettings {
  const rawRatio = env.PORTOLAN_TRACE_SAMPLING || BOOT_CONFIG_VARIABLES.PORTOLAN_TRACE_SAMPLING.default;
  const otlpEndpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || undefined;
  return {
    sampleRatio: checked('PORTOLAN_TRACE_SAMPLING', rawRatio, parseSampleRatio, '0.1'),
    otlpEndpoint: otlpEndpoint && checked('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', otlpEndpoint, checkOtlpEndpoint, 'http://otel-collector:4318/v1/traces'),
  };
}

export function readBootConfig(env: NodeJS.ProcessEnv = process.env): BootConfig {
  const read = (name: Variable) => env[name] || BOOT_CONFIG_VARIABLES[name].default;
  return {
    backend: backend(env, read('PORTOLAN_BOOTSTRAP_TOKEN') || undefined),
    dataDir: resolve(read('PORTOLAN_DATA_DIR')),
    host: read('PORTOLAN_HOST'),
    apiPort: port(env, 'PORTOLAN_API_PORT', false),
    opsPort: port(env, 'PORTOLAN_OPS_PORT', true),
    tlsSans: read('PORTOLAN_TLS_SANS').split(',').map((s) => s.trim()).filter(Boolean),
    tlsCa: certificateAuthorityFiles(env),
    agentClientCaFile: read('PORTOLAN_TLS_AGENT_CLIENT_CA_FILE') ? resolve(read('PORTOLAN_TLS_AGENT_CLIENT_CA_FILE')) : undefined,
    tokensFile: read('PORTOLAN_TOKENS_FILE') || undefined,
    adminToken: read('PORTOLAN_ADMIN_TOKEN') || undefined,
    logLevel: read('PORTOLAN_LOG_LEVEL'),
    bootstrapToken: read('PORTOLAN_BOOTSTRAP_TOKEN') || undefined,
    authLockout: authLockout(env),
    registry: {
      heartbeatIntervalMs: duration(env, 'PORTOLAN_HEARTBEAT_INTERVAL'),
      ttlMs: duration(env, 'PORTOLAN_NODE_TTL'),
      removeAfterMs: duration(env, 'PORTOLAN_NODE_REMOVE_AFTER'),
    },
    history: {
      retentionMs: duration(env, 'PORTOLAN_CHANGE_RETENTION'),
      compactionIntervalMs: duration(env, 'PORTOLAN_COMPACTION_INTERVAL'),
      keepPerObject: positiveInteger(env, 'PORTOLAN_HISTORY_LIMIT'),
    },
    audit: audit(env),
    tracing: tracing(env),
    selfTracing: selfTracing(env),
    autoscaling: autoscaling(env),
    dashboardDir: resolve(read('PORTOLAN_DASHBOARD_DIR') || DEFAULT_DASHBOARD_DIR),
    kubernetes: kubernetes(env),
  };
}

function authLockout(env: NodeJS.ProcessEnv): AuthLockoutSettings {
  const settings = { maxFailures: positiveInteger(env, 'PORTOLAN_AUTH_FAILURE_LIMIT'), windowMs: duration(env, 'PORTOLAN_AUTH_FAILURE_WINDOW'), blockMs: duration(env, 'PORTOLAN_AUTH_LOCKOUT') };
  for (const [name, ms] of [['PORTOLAN_AUTH_FAILURE_WINDOW', settings.windowMs], ['PORTOLAN_AUTH_LOCKOUT', settings.blockMs]] as const) {
    if (ms < 1_000) throw new BootConfigError(`${name}=${env[name]} is too short: use at least 1s (default ${BOOT_CONFIG_VARIABLES[name].default})`);
  }
  return settings;
}

function audit(env: NodeJS.ProcessEnv): AuditSettings {
  const maxAgeMs = duration(env, 'PORTOLAN_AUDIT_MAX_AGE');
  if (maxAgeMs < 60_000) throw new BootConfigError(`PORTOLAN_AUDIT_MAX_AGE=${env.PORTOLAN_AUDIT_MAX_AGE} is too short: use at least 1m (default ${BOOT_CONFIG_VARIABLES.PORTOLAN_AUDIT_MAX_AGE.default}, 90 days)`);
  return { maxEntries: positiveInteger(env, 'PORTOLAN_AUDIT_MAX_ENTRIES'), maxAgeMs };
}

function kubernetes(env: NodeJS.ProcessEnv): KubernetesSettings {
  const read = (name: Variable) => env[name] || BOOT_CONFIG_VARIABLES[name].default;
  const authentication = read('PORTOLAN_KUBERNETES_AUTH');
  if (authentication !== 'off' && authentication !== 'delegated') {
    throw new BootConfigError(`PORTOLAN_KUBERNETES_AUTH=${authentication} is not an authentication mode: use off (bearer tokens only) or delegated (behind the Kubernetes aggregation layer)`);
  }
  const apiServiceName = read('PORTOLAN_APISERVICE_NAME') || undefined;
  // An APIService is named <version>.<group>; any other would route another group, which this server does not serve.
  const expected = `${API_VERSION}.${API_GROUP}`;
  if (apiServiceName !== undefined && apiServiceName !== expected) {
    throw new BootConfigError(`PORTOLAN_APISERVICE_NAME=${apiServiceName} is not the APIService of ${API_GROUP}/${API_VERSION}: use ${expected}`);
  }
  const kubeconfigFile = read('PORTOLAN_KUBECONFIG') || undefined;
  return {
    authentication,
    ...(apiServiceName ? { apiServiceName } : {}),
    ...(kubeconfigFile ? { kubeconfigFile: resolve(kubeconfigFile) } : {}),
  };
}

function autoscaling(env: NodeJS.ProcessEnv): AutoscalingSettings {
  const read = (name: Variable) => env[name] || BOOT_CONFIG_VARIABLES[name].default;
  const intervalMs = duration(env, 'PORTOLAN_AUTOSCALE_INTERVAL');
  if (intervalMs < 100) throw new BootConfigError(`PORTOLAN_AUTOSCALE_INTERVAL=${read('PORTOLAN_AUTOSCALE_INTERVAL')} is too short: use at least 100ms (default 15s)`);
  const prometheusUrl = read('PORTOLAN_PROMETHEUS_URL') || undefined;
  if (prometheusUrl) checked('PORTOLAN_PROMETHEUS_URL', prometheusUrl, (raw) => new URL(raw), 'http://prometheus:9090');
  const kubeconfigFile = read('PORTOLAN_KUBECONFIG') || undefined;
  const gatewayScript = read('PORTOLAN_LOCAL_SCALER_GATEWAY') || undefined;
  return {
    intervalMs,
    ...(prometheusUrl ? { prometheusUrl } : {}),
    ...(kubeconfigFile ? { kubeconfigFile: resolve(kubeconfigFile) } : {}),
    kubernetes: !!(kubeconfigFile || env.KUBECONFIG || env.KUBERNETES_SERVICE_HOST),
    ...(gatewayScript
      ? { localScaler: { gatewayScript: resolve(gatewayScript), extraArgs: read('PORTOLAN_LOCAL_SCALER_GATEWAY_ARGS').split(/\s+/).filter(Boolean) } }
      : {}),
  };
}
