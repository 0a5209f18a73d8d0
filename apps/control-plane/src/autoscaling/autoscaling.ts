/**
 * Puts the autoscaler together from the boot settings: the metric sources (heartbeats always,
 * Prometheus when PORTOLAN_PROMETHEUS_URL is set), the scalers this control plane can use (Local
 * when PORTOLAN_LOCAL_SCALER_GATEWAY names the gateway, Kubernetes when a kubeconfig or a cluster
 * is there), and registers it as a leader controller. Started once the API listens, because the
 * local scaler hands its URL to the gateways it starts.
 */
import type { Logger } from 'pino';
import type { AutoscalingSettings } from '../config/boot-config';
import type { EventJournal } from '../events/event-journal';
import type { LeaderControllers } from '../leadership/leader-controllers';
import type { NodeRegistry } from '../registry/node-registry';
import type { ResourceStore } from '../store/resource-store';
import type { MetricsRegistry } from '../telemetry/metrics';
import { Autoscaler, registerAutoscaler } from './autoscaler';
import { HeartbeatMetricSource, PrometheusMetricSource, type MetricSource } from './metric-sources';
import type { PoolTrafficWindow } from './pool-traffic-window';
import { PrometheusClient } from './prometheus-client';
import { KubernetesScaler } from './scalers/kubernetes-scaler';
import { LocalProcessScaler } from './scalers/local-process-scaler';
import type { Scaler } from './scalers/scaler';

export interface AutoscalingEdges {
  settings: AutoscalingSettings;
  controllers: LeaderControllers;
  store: ResourceStore;
  journal: EventJournal;
  registry: NodeRegistry;
  traffic: PoolTrafficWindow;
  metrics: MetricsRegistry;
  logger: Logger;
  /** What gateways started by the local scaler need to join this control plane. */
  self: { apiUrl: string; caFile: string; bootstrapToken: string; dataDir: string };
}

export interface RunningAutoscaling {
  autoscaler: Autoscaler;
  /** Drains and stops the gateways the local scaler started. */
  close(): Promise<void>;
}

export function startAutoscaling(edges: AutoscalingEdges): RunningAutoscaling {
  const log = edges.logger.child({ component: 'autoscaler' });
  const sources: Partial<Record<'Heartbeats' | 'Prometheus', MetricSource>> = { Heartbeats: new HeartbeatMetricSource(edges.traffic) };
  const unavailable: Partial<Record<'Local' | 'Kubernetes' | 'Prometheus', string>> = {};
  if (edges.settings.prometheusUrl) sources.Prometheus = new PrometheusMetricSource(new PrometheusClient(edges.settings.prometheusUrl));
  else unavailable.Prometheus = 'the metric source is Prometheus but PORTOLAN_PROMETHEUS_URL is not set on the control plane';

  const scalers: Partial<Record<'Local' | 'Kubernetes', Scaler>> = {};
  const local = edges.settings.localScaler;
  if (local) {
    scalers.Local = new LocalProcessScaler(
      { gatewayScript: local.gatewayScript, extraArgs: local.extraArgs },
      {
        controlPlaneUrl: edges.self.apiUrl,
        caFile: edges.self.caFile,
        bootstrapToken: edges.self.bootstrapToken,
        stateRoot: `${edges.self.dataDir}/scaled-gateways`,
        registry: edges.registry,
        log: (fields, message) => log.info(fields, message),
      },
    );
  } else {
    unavailable.Local = 'the Local scaler is off on this control plane: set PORTOLAN_LOCAL_SCALER_GATEWAY to the gateway\'s entry point (npm start does)';
  }
  if (edges.settings.kubernetes) {
    try {
      scalers.Kubernetes = KubernetesScaler.fromSettings({ kubeconfigFile: edges.settings.kubeconfigFile });
    } catch (error) {
      unavailable.Kubernetes = `the Kubernetes scaler cannot load its configuration: ${(error as Error).message}`;
      log.error({ err: error }, unavailable.Kubernetes);
    }
  } else {
    unavailable.Kubernetes = 'no Kubernetes API is configured: set PORTOLAN_KUBECONFIG (or KUBECONFIG), or run the control plane in the cluster';
  }

  const autoscaler = new Autoscaler({
    store: edges.store,
    journal: edges.journal,
    sources,
    scalers,
    unavailable,
    metrics: edges.metrics,
    log: (level, fields, message) => log[level](fields, message),
  });
  registerAutoscaler(edges.controllers, autoscaler, edges.settings.intervalMs, (fields, message) => log.error(fields, message));
  return {
    autoscaler,
    close: async () => {
      autoscaler.stop();
      await Promise.all(Object.values(scalers).map((scaler) => scaler.close()));
    },
  };
}
