/**
 * Opens the state the control plane runs on, chosen by PORTOLAN_STORE: the embedded database (one
 * process) or Consul (several replicas). Either way the rest of the control plane sees the same
 * edges: a ResourceStore, a NodeRegistry, a Leadership (with the LeaderControllers that run on
 * it), an AckLedger, an ApiTokenStore, an EventJournal and an AuditLog.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { BootConfig, ConsulBackend } from './config/boot-config';
import { ConsulApiTokenStore, SqliteApiTokenStore, type ApiTokenStore } from './auth/api-token-store';
import type { AuditLog } from './audit/audit-log';
import { ConsulAuditLog } from './audit/consul-audit-log';
import { SqliteAuditLog } from './audit/sqlite-audit-log';
import { checkSameAgent } from './consul/agent-identity';
import { ConsulClient } from './consul/consul-client';
import { waitForConsul } from './consul/wait-for-consul';
import { ConsulAckLedger, LocalAckLedger, type AckLedger } from './distribution/ack-ledger';
import { ConsulEventJournal } from './events/consul-event-journal';
import type { EventJournal } from './events/event-journal';
import { SqliteEventJournal } from './events/sqlite-event-journal';
import { ConsulPreparedQueries } from './failover/consul-prepared-queries';
import { ConsulLeadership } from './leadership/consul-leadership';
import { LeaderControllers } from './leadership/leader-controllers';
import { SingleReplicaLeadership, type Leadership } from './leadership/leadership';
import { ConsulNodeRegistry } from './registry/consul-node-registry';
import { EmbeddedNodeRegistry } from './registry/embedded-node-registry';
import type { NodeRegistry } from './registry/node-registry';
import { registerHistoryCompaction } from './store/compaction';
import { ConsulResourceStore } from './store/consul-resource-store';
import type { ResourceStore } from './store/resource-store';
import { openEmbeddedDatabase, SqliteResourceStore } from './store/sqlite-resource-store';
import type { MetricsRegistry } from './telemetry/metrics';
import { sharedCertificateAuthority } from './tls/consul-certificate-authority';
import type { CertificateAuthority } from './tls/certificates';

export interface Backend {
  store: ResourceStore;
  registry: NodeRegistry;
  leadership: Leadership;
  /** The act-once controllers; more register once the API listens (the autoscaler). */
  controllers: LeaderControllers;
  ackLedger: AckLedger;
  apiTokens: ApiTokenStore;
  events: EventJournal;
  /** Every write and token action: who, what, when, from where, with what outcome. */
  audit: AuditLog;
  /** Consul mode: the prepared queries the failover controller keeps (`<service>.query.consul`). */
  preparedQueries?: ConsulPreparedQueries;
  /** The CA every replica shares (Consul, when the operator configured none); unset, the data directory's. */
  certificateAuthority?: CertificateAuthority;
  /** One line for the start banner and logs. */
  describe: string;
  close(): Promise<void>;
}

/**
 * The act-once work of the registry (removing nodes Offline for PORTOLAN_NODE_REMOVE_AFTER) as a
 * leader controller: the registry asks `active()` before removing, which is true only between the
 * controller's start and the moment leadership is lost.
 */
function registryRemoval(controllers: LeaderControllers): { active: () => boolean } {
  let active = false;
  controllers.register({
    name: 'registry-removal',
    start: (signal) => {
      active = true;
      signal.addEventListener('abort', () => (active = false), { once: true });
    },
  });
  return { active: () => active };
}

export interface OpenBackendOptions {
  /** Called while the backend cannot be reached yet and opening waits for it (for readiness). */
  onWaiting?: (reason: string | undefined) => void;
}

export async function openBackend(config: BootConfig, logger: Logger, metrics: MetricsRegistry, options: OpenBackendOptions = {}): Promise<Backend> {
  if (config.backend.kind === 'embedded') {
    const db = openEmbeddedDatabase(join(config.dataDir, 'portolan.db'));
    const store = new SqliteResourceStore(db);
    const registry = new EmbeddedNodeRegistry(db, { settings: config.registry });
    // One process per data directory: it leads from start to stop, and its registry removes nodes itself.
    const leadership = new SingleReplicaLeadership();
    const controllers = new LeaderControllers(leadership, metrics);
    registerHistoryCompaction(controllers, store, config.history, metrics);
    controllers.start();
    await leadership.start();
    const events = new SqliteEventJournal(db);
    const audit = new SqliteAuditLog(db, config.audit);
    return {
      store,
      registry,
      leadership,
      controllers,
      ackLedger: new LocalAckLedger(),
      apiTokens: new SqliteApiTokenStore(db),
      events,
      audit,
      describe: `embedded store in ${config.dataDir}`,
      close: async () => {
        controllers.close();
        await leadership.close();
        await events.close();
        await audit.close();
        await registry.close();
        await store.close();
        db.close();
      },
    };
  }
  return openConsulBackend(config, config.backend, logger, metrics, options);
}

async function openConsulBackend(config: BootConfig, backend: ConsulBackend, logger: Logger, metrics: MetricsRegistry, options: OpenBackendOptions): Promise<Backend> {
  const consul = new ConsulClient(backend.consul);
  const log = logger.child({ component: 'consul', consul: consul.address, prefix: consul.prefix });
  let store: ConsulResourceStore | undefined;
  let registry: ConsulNodeRegistry | undefined;
  let controllers: LeaderControllers | undefined;
  let leadership: ConsulLeadership | undefined;
  let ackLedger: ConsulAckLedger | undefined;
  let apiTokens: ConsulApiTokenStore | undefined;
  let events: ConsulEventJournal | undefined;
  let audit: ConsulAuditLog | undefined;
  // Also what a start that fails halfway runs: whatever was opened is closed, the leader lock first.
  const close = async () => {
    // Leadership first, so another replica takes over while this one finishes closing.
    controllers?.close();
    await leadership?.close();
    await ackLedger?.close();
    await apiTokens?.close();
    await events?.close();
    // After the API closed: the entries of its last requests are written first.
    await audit?.close();
    await registry?.close();
    await store?.close();
    consul.close();
  };
  try {
    // What must be read or made before this replica takes part, tried again together while Consul cannot be reached.
    const prepared = await waitForConsul(
      consul,
      async () => {
        await checkSameAgent(consul);
        const certificateAuthority = config.tlsCa ? undefined : await sharedCertificateAuthority(consul);
        const opened = await ConsulResourceStore.open(consul, {
          onAvailability: (available, error) =>
            available ? log.info('Consul answers again; the change feed resumed') : log.error({ err: error }, 'Consul is unreachable: serving gateways their last configuration, refusing writes'),
          onRevisionRewound: (seen, now) =>
            log.error({ seen, now }, 'the mesh revision in Consul went backwards (was a snapshot restored?); changes after it are gone and gateways will be sent the restored state'),
        });
        return { certificateAuthority, store: opened };
      },
      {
        onWaiting: (error, attempt) => {
          options.onWaiting?.(`waiting for Consul: ${error.message}`);
          log.error({ err: error, attempt }, 'Consul cannot be reached yet: waiting for it before serving (not ready meanwhile)');
        },
      },
    );
    options.onWaiting?.(undefined);
    store = prepared.store;
    leadership = new ConsulLeadership(consul, {
      identity: backend.replicaName,
      ttlMs: backend.leaderSessionTtlMs,
      lockDelayMs: backend.leaderLockDelayMs,
    });
    controllers = new LeaderControllers(leadership, metrics);
    const removal = registryRemoval(controllers);
    registerHistoryCompaction(controllers, store, config.history, metrics);
    registry = new ConsulNodeRegistry(consul, { settings: config.registry, isLeader: removal.active });
    await registry.start();
    controllers.start();
    await leadership.start();
    ackLedger = new ConsulAckLedger(consul, backend.replicaName);
    apiTokens = await ConsulApiTokenStore.open(consul);
    events = await ConsulEventJournal.open(consul);
    audit = await ConsulAuditLog.open(consul, config.audit);
    return {
      store,
      registry,
      leadership,
      controllers,
      ackLedger,
      apiTokens,
      events,
      audit,
      preparedQueries: new ConsulPreparedQueries(consul, { log: (level, fields, message) => log.child({ component: 'prepared-queries' })[level](fields, message) }),
      certificateAuthority: prepared.certificateAuthority,
      describe: `Consul at ${consul.address} (prefix ${consul.prefix}), replica ${backend.replicaName}`,
      close,
    };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}
