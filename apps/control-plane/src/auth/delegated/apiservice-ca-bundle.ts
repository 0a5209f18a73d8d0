/**
 * Keeps `spec.caBundle` of Portolan's APIService (PORTOLAN_APISERVICE_NAME) equal to the CA that
 * signs the control plane's serving certificate, so kube-apiserver verifies the control plane it
 * proxies to without anyone copying a CA by hand: made at first start, shared through Consul, or
 * the operator's. Checked at start and every 5 minutes after (a `kubectl apply` of the manifest
 * may have emptied it), and patched (JSON merge patch, as `kubectl patch --type=merge`) when it
 * differs. Failures are logged with what to fix and retried with backoff; the control plane keeps
 * serving either way.
 *
 * It also checks that the serving certificate names the host kube-apiserver dials,
 * `<service>.<namespace>.svc` of the APIService's spec.service: without it every proxied request
 * fails TLS verification.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { DelegationApi, KubernetesRequestError } from './kubernetes-client';

export interface ApiServiceCaBundleOptions {
  /** How often a caBundle that was right is checked again. */
  recheckIntervalMs?: number;
  firstRetryMs?: number;
  maxRetryMs?: number;
}

export interface ServingIdentity {
  /** PEM of the CA that signs the serving certificate. */
  caPem: string;
  /** DNS names and IPs of the serving certificate. */
  names: string[];
}

function fingerprint(pem: string): string {
  return createHash('sha256').update(pem).digest('hex').slice(0, 16);
}

export class ApiServiceCaBundle {
  private timer?: NodeJS.Timeout;
  private closed = false;
  private retryMs: number;
  private running?: Promise<void>;
  /** Whether "caBundle is current" has been logged since the last failure, so a recheck that finds nothing to do logs nothing. */
  private reportedCurrent = false;
  private readonly recheckIntervalMs: number;
  private readonly firstRetryMs: number;
  private readonly maxRetryMs: number;

  constructor(
    private readonly api: Pick<DelegationApi, 'readApiService' | 'patchApiServiceCaBundle' | 'describe'>,
    private readonly apiServiceName: string,
    private readonly serving: ServingIdentity,
    private readonly logger: Logger,
    options: ApiServiceCaBundleOptions = {},
  ) {
    this.recheckIntervalMs = options.recheckIntervalMs ?? 5 * 60_000;
    this.firstRetryMs = options.firstRetryMs ?? 1_000;
    this.maxRetryMs = options.maxRetryMs ?? 5 * 60_000;
    this.retryMs = this.firstRetryMs;
  }

  /** Makes the first attempt; resolves when it is done, whatever its outcome (it never rejects). */
  start(): Promise<void> {
    return this.reconcile();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private reconcile(): Promise<void> {
    clearTimeout(this.timer);
    // One attempt at a time, should start() and a timer ever overlap.
    const previous = this.running ?? Promise.resolve();
    this.running = previous.then(() => this.attempt());
    return this.running;
  }

  private async attempt(): Promise<void> {
    if (this.closed) return;
    const { caPem, names } = this.serving;
    const desired = Buffer.from(caPem, 'utf8').toString('base64');
    const fields = { apiService: this.apiServiceName, caFingerprint: fingerprint(caPem) };
    try {
      const apiService = await this.api.readApiService(this.apiServiceName);
      this.checkServingName(apiService.service, names);
      if (apiService.insecureSkipTLSVerify) {
        this.logger.warn(fields, `APIService ${this.apiServiceName} sets spec.insecureSkipTLSVerify: kube-apiserver does not verify the control plane at all, and the API server refuses a caBundle beside it; remove insecureSkipTLSVerify from the manifest so that the control plane can set caBundle`);
      }
      if (apiService.caBundle === desired) {
        if (!this.reportedCurrent) this.logger.info(fields, `APIService ${this.apiServiceName} already trusts the control plane's CA (spec.caBundle)`);
      } else {
        await this.api.patchApiServiceCaBundle(this.apiServiceName, desired);
        this.logger.info(
          { ...fields, previousCaFingerprint: apiService.caBundle ? fingerprint(Buffer.from(apiService.caBundle, 'base64').toString('utf8')) : null },
          `patched spec.caBundle of APIService ${this.apiServiceName} with the CA that signs the control plane's serving certificate${apiService.caBundle ? ' (it held another CA: if this repeats, replicas serve certificates of different CAs; give them one, e.g. PORTOLAN_TLS_CA_CERT_FILE)' : ''}`,
        );
      }
      this.reportedCurrent = true;
      this.retryMs = this.firstRetryMs;
      this.schedule(this.recheckIntervalMs);
    } catch (error) {
      this.failed(error as KubernetesRequestError, fields);
    }
  }

  private checkServingName(service: { namespace: string; name: string } | undefined, names: string[]): void {
    if (!service) return;
    const host = `${service.name}.${service.namespace}.svc`;
    if (names.includes(host)) return;
    this.logger.error(
      { apiService: this.apiServiceName, missingName: host, servingNames: names },
      `the serving certificate does not name ${host}, the host kube-apiserver dials for APIService ${this.apiServiceName}: every proxied request will fail TLS verification; add ${host} to PORTOLAN_TLS_SANS and restart`,
    );
  }

  private failed(error: KubernetesRequestError, fields: Record<string, unknown>): void {
    if (this.closed) return;
    const permission = error.missingPermission;
    const advice =
      error.status === 404
        ? `create APIService ${this.apiServiceName} (the deploy manifests do), or correct PORTOLAN_APISERVICE_NAME`
        : permission
          ? `grant the control plane's service account ${permission.verb} on ${permission.resource}.${permission.group}${permission.name ? ` named ${permission.name}` : ''}`
          : 'check that the Kubernetes API is reachable from the control plane';
    this.logger.error(
      { ...fields, err: error, ...(permission ? { missingPermission: permission } : {}), retryInMs: this.retryMs },
      `cannot keep spec.caBundle of APIService ${this.apiServiceName} current: ${advice}; retrying. Until it is, kube-apiserver may not trust the control plane (kubectl get on ${this.apiServiceName.split('.').slice(1).join('.')} fails with a TLS error)`,
    );
    this.reportedCurrent = false;
    this.schedule(this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, this.maxRetryMs);
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reconcile(), delayMs);
    this.timer.unref();
  }
}
