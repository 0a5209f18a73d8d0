/**
 * What the control plane does for the Kubernetes aggregation layer, wired for control-plane.ts:
 * delegated authentication and authorization (PORTOLAN_KUBERNETES_AUTH=delegated) and the
 * APIService's caBundle (PORTOLAN_APISERVICE_NAME). Both off, it does nothing and asks for no
 * client certificate.
 */
import { X509Certificate } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import type { Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import type { KubernetesSettings } from '../../config/boot-config';
import { ApiServiceCaBundle } from './apiservice-ca-bundle';
import { KubernetesDelegation } from './kubernetes-delegation';
import { KubernetesConfigError, KubernetesDelegationClient } from './kubernetes-client';

export interface KubernetesIntegration {
  /** Set with PORTOLAN_KUBERNETES_AUTH=delegated; AuthGuard consults it. */
  delegation?: KubernetesDelegation;
  /** Options for the HTTPS server: with delegation, a client certificate is asked for (never required). */
  tlsOptions: { requestCert?: boolean; rejectUnauthorized?: boolean };
  /** Once the server listens: offer the front-proxy CA to clients, and keep the APIService's caBundle current. */
  attach(server: HttpServer | TlsServer): void;
  close(): void;
}

/** The DNS names and IPs of a certificate, as kube-apiserver's verification sees them. */
function subjectAltNames(certPem: string): string[] {
  const alternatives = new X509Certificate(certPem).subjectAltName ?? '';
  return alternatives
    .split(', ')
    .map((entry) => entry.replace(/^(DNS|IP Address):/, ''))
    .filter(Boolean);
}

/**
 * Throws KubernetesConfigError when delegation is on and no Kubernetes API can be configured: the
 * operator asked for it, and it can never work without one. The APIService's caBundle is a
 * convenience, so a missing configuration for it is logged and the control plane starts anyway.
 */
export function startKubernetesIntegration(settings: KubernetesSettings, serving: { caPem: string; certPem: string; keyPem: string; agentClientCaPem?: string }, logger: Logger): KubernetesIntegration {
  let client: KubernetesDelegationClient | undefined;
  let delegation: KubernetesDelegation | undefined;
  if (settings.authentication === 'delegated') {
    try {
      client = KubernetesDelegationClient.connect({ kubeconfigFile: settings.kubeconfigFile });
    } catch (error) {
      throw new KubernetesConfigError(`PORTOLAN_KUBERNETES_AUTH=delegated needs the Kubernetes API: ${(error as Error).message}`);
    }
    delegation = new KubernetesDelegation(client, logger);
    // Not awaited: bearer tokens work while it reads, and front-proxied requests get 503 until it has.
    void delegation.start();
  }
  let caBundle: ApiServiceCaBundle | undefined;
  return {
    delegation,
    tlsOptions: delegation ? { requestCert: true, rejectUnauthorized: false } : {},
    attach(server) {
      // Nest types its server as http.Server; the API's is HTTPS, a tls.Server.
      if (delegation && 'setSecureContext' in server) delegation.advertiseFrontProxyCa(server, serving);
      if (!settings.apiServiceName) return;
      if (!client) {
        try {
          client = KubernetesDelegationClient.connect({ kubeconfigFile: settings.kubeconfigFile });
        } catch (error) {
          logger.error({ err: error, apiService: settings.apiServiceName }, `cannot keep spec.caBundle of APIService ${settings.apiServiceName} current: ${(error as Error).message}`);
          return;
        }
      }
      caBundle = new ApiServiceCaBundle(client, settings.apiServiceName, { caPem: serving.caPem, names: subjectAltNames(serving.certPem) }, logger);
      void caBundle.start();
    },
    close() {
      delegation?.close();
      caBundle?.close();
    },
  };
}
