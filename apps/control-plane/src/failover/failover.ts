/**
 * Puts the failover controller together and registers it as a leader controller. "Traffic has
 * moved" is measured through the distribution module (waitForRevision): the snapshots of the
 * written revision built and answered by every routable gateway.
 */
import type { Logger } from 'pino';
import type { PoolTrafficWindow } from '../autoscaling/pool-traffic-window';
import type { DistributionService } from '../distribution/distribution.service';
import type { EventJournal } from '../events/event-journal';
import type { LeaderControllers } from '../leadership/leader-controllers';
import type { NodeRegistry } from '../registry/node-registry';
import type { ResourceStore } from '../store/resource-store';
import type { MetricsRegistry } from '../telemetry/metrics';
import { afterFailoverRound, type ConsulPreparedQueries } from './consul-prepared-queries';
import { FailoverController, registerFailover } from './failover-controller';

export interface FailoverEdges {
  controllers: LeaderControllers;
  store: ResourceStore;
  registry: NodeRegistry;
  traffic: PoolTrafficWindow;
  journal: EventJournal;
  distribution: DistributionService;
  metrics: MetricsRegistry;
  logger: Logger;
  /** Consul mode: the prepared query per failover-covered service, kept in step after each round. */
  preparedQueries?: ConsulPreparedQueries;
}

export function startFailover(edges: FailoverEdges): { controller: FailoverController; close(): void } {
  const log = edges.logger.child({ component: 'failover' });
  const controller = new FailoverController({
    store: edges.store,
    registry: edges.registry,
    traffic: edges.traffic,
    journal: edges.journal,
    waitForGateways: (revision, timeoutMs) => edges.distribution.waitForRevision(revision, timeoutMs),
    metrics: edges.metrics,
    ...(edges.preparedQueries ? { afterRound: afterFailoverRound(edges.preparedQueries, edges.store) } : {}),
    log: (level, fields, message) => log[level](fields, message),
  });
  registerFailover(edges.controllers, controller, (fields, message) => log.error(fields, message));
  return { controller, close: () => controller.stop() };
}
