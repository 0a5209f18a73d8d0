/**
 * Boot-time settings of the control plane (ports, data directory, credentials), read once from the
 * environment. They are not mesh state: nothing here is stored or distributed. The table in
 * docs/configuration.md lists the same variables; boot-config.spec.ts fails if the two drift.
 */
import { resolve } from 'node:path';
import { parseDuration } from '@portolan/api';
import type { ConsulSettings } from '../consul/consul-client';
import { defaultIdentity } from '../leadership/leadership';

export interface BootConfig {
  /** Where the embedded store, the CA and the generated admin token live. */
  dataDir: string;
  host: string;
  /** HTTPS port of the API (kubectl, dashboard, agents). 0 picks a free port. */
  apiPort: number;
  /** Plain-HTTP port of /healthz, /readyz, /metrics and /version only. 0 picks a free port; -1 disables it. */
  opsPort: number;
  /** Host names and IPs written into the serving certificate besides localhost and 127.0.0.1. */
  tlsSans: string[];
  tokensFile?: string;
  adminToken?: string;
  logLevel: string;
  /** Token gateways and instances register with; generated into <data dir>/bootstrap.token when unset. */
  bootstrapToken?: string;
  registry: RegistrySettings;
  /** Where resources and the registry live: the embedded database, or Consul for several replicas. */
  backend: EmbeddedBackend | ConsulBackend;
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

export interface RegistrySettings {
  heartbeatIntervalMs: number;
  /** Missing heartbeats for this long makes a node Offline. */
  ttlMs: number;
  /** An Offline node is removed this long after it went Offline. */
  removeAfterMs: number;
}

export const BOOT_CONFIG_VARIABLES = {
  PORTOLAN_DATA_DIR: { default: '.portolan', description: 'Data directory: embedded store, CA, generated admin token.' },
  PORTOLAN_HOST: { default: '127.0.0.1', description: 'Address both listeners bind to.' },
  PORTOLAN_API_PORT: { default: '7443', description: 'HTTPS port of the API (kubectl, dashboard, gateways). 0 = any free port.' },
  PORTOLAN_OPS_PORT: { default: '7080', description: 'Plain-HTTP port for /healthz, /readyz, /metrics, /version. 0 = any free port, -1 = off.' },
  PORTOLAN_TLS_SANS: { default: '', description: 'Extra comma-separated DNS names/IPs for the serving certificate.' },
  PORTOLAN_TOKENS_FILE: { default: '', description: 'YAML or JSON file of static tokens: `tokens: [{name, role, token}]`.' },
  PORTOLAN_ADMIN_TOKEN: { default: '', description: 'An admin token. When no token is configured, one is generated into <data dir>/admin.token.' },
  PORTOLAN_LOG_LEVEL: { default: 'info', description: 'trace, debug, info, warn, error.' },
  PORTOLAN_BOOTSTRAP_TOKEN: { default: '', description: 'Token gateways and service instances register with. When unset, one is generated into <data dir>/bootstrap.token.' },
  PORTOLAN_HEARTBEAT_INTERVAL: { default: '2s', description: 'How often nodes heartbeat (they add ±10% jitter).' },
  PORTOLAN_NODE_TTL: { default: '6s', description: 'A node that has not heartbeated for this long is Offline and no longer routed to (3 intervals).' },
  PORTOLAN_NODE_REMOVE_AFTER: { default: '5m', description: 'An Offline node is removed from the registry this long after it went Offline.' },
  PORTOLAN_STORE: { default: 'embedded', description: '`embedded` (one process, data in the data directory) or `consul` (several replicas on one Consul).' },
  PORTOLAN_CONSUL_PREFIX: { default: 'portolan', description: 'Consul KV prefix for resources, the change log and the leader lock.' },
  PORTOLAN_REPLICA_NAME: { default: '(host name:pid)', description: 'This replica\'s name in the leader lock, shared ACKs and logs; must differ between replicas (set it where every container is pid 1 on the same host name).' },
  PORTOLAN_LEADER_SESSION_TTL: { default: '15s', description: 'TTL of the Consul session behind the leader lock (Consul accepts 10s to 24h).' },
  PORTOLAN_LEADER_LOCK_DELAY: { default: '15s', description: 'Consul lock-delay: after a leader is lost, no replica may take the lock for this long.' },
  CONSUL_HTTP_ADDR: { default: '127.0.0.1:8500', description: 'Consul HTTP(S) address; `https://` or CONSUL_HTTP_SSL=true for TLS. Every replica must use the same Consul agent (or the same server address): TTL checks live on the agent that registered them.' },
  CONSUL_HTTP_TOKEN: { default: '', description: 'Consul ACL token: key_prefix write on the prefix, session write, service write for portolan-gateway and the services instances register under, service read on all services (other tools\' instances are routed to), node read.' },
  CONSUL_HTTP_SSL: { default: 'false', description: 'Use HTTPS when CONSUL_HTTP_ADDR has no scheme.' },
  CONSUL_CACERT: { default: '', description: 'PEM file of the CA that signed Consul\'s certificate.' },
  CONSUL_CLIENT_CERT: { default: '', description: 'PEM client certificate, when Consul verifies clients.' },
  CONSUL_CLIENT_KEY: { default: '', description: 'PEM key of CONSUL_CLIENT_CERT.' },
} as const;

type Variable = keyof typeof BOOT_CONFIG_VARIABLES;

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

export function readBootConfig(env: NodeJS.ProcessEnv = process.env): BootConfig {
  const read = (name: Variable) => env[name] || BOOT_CONFIG_VARIABLES[name].default;
  return {
    backend: backend(env, read('PORTOLAN_BOOTSTRAP_TOKEN') || undefined),
    dataDir: resolve(read('PORTOLAN_DATA_DIR')),
    host: read('PORTOLAN_HOST'),
    apiPort: port(env, 'PORTOLAN_API_PORT', false),
    opsPort: port(env, 'PORTOLAN_OPS_PORT', true),
    tlsSans: read('PORTOLAN_TLS_SANS').split(',').map((s) => s.trim()).filter(Boolean),
    tokensFile: read('PORTOLAN_TOKENS_FILE') || undefined,
    adminToken: read('PORTOLAN_ADMIN_TOKEN') || undefined,
    logLevel: read('PORTOLAN_LOG_LEVEL'),
    bootstrapToken: read('PORTOLAN_BOOTSTRAP_TOKEN') || undefined,
    registry: {
      heartbeatIntervalMs: duration(env, 'PORTOLAN_HEARTBEAT_INTERVAL'),
      ttlMs: duration(env, 'PORTOLAN_NODE_TTL'),
      removeAfterMs: duration(env, 'PORTOLAN_NODE_REMOVE_AFTER'),
    },
  };
}
