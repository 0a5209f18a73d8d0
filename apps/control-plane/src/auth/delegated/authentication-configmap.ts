/**
 * Keeps the front-proxy configuration current: reads ConfigMap
 * kube-system/extension-apiserver-authentication at start and every minute after, as
 * k8s.io/apiserver keeps re-reading it, so a rotated front-proxy CA or a changed allowed-names list
 * is followed without a restart. Until the first read succeeds it retries with backoff (1 s,
 * doubling, at most a minute); a later failed read keeps the configuration last read. Neither
 * stops the control plane: bearer tokens work meanwhile, and front-proxied requests are answered
 * 503 until the first read.
 */
import type { Logger } from 'pino';
import type { DelegationApi } from './kubernetes-client';
import { AUTHENTICATION_CONFIGMAP, parseAuthenticationConfigMap, type ExtensionApiserverAuthentication } from './request-header';

export interface AuthenticationConfigMapOptions {
  refreshIntervalMs?: number;
  firstRetryMs?: number;
  maxRetryMs?: number;
}

const CONFIGMAP = `${AUTHENTICATION_CONFIGMAP.namespace}/${AUTHENTICATION_CONFIGMAP.name}`;

/** How it looks in logs: no certificate bodies, only what tells one configuration from another. */
function summary(config: ExtensionApiserverAuthentication) {
  const frontProxy = config.frontProxy;
  return frontProxy
    ? {
        requestheaderClientCa: frontProxy.cas.map((ca) => ca.subject.split('\n').join(', ')),
        allowedNames: frontProxy.allowedNames,
        usernameHeaders: frontProxy.usernameHeaders,
        groupHeaders: frontProxy.groupHeaders,
        extraHeaderPrefixes: frontProxy.extraHeaderPrefixes,
        uidHeaders: frontProxy.uidHeaders,
      }
    : { requestheaderClientCa: null };
}

function identity(config: ExtensionApiserverAuthentication): string {
  const { frontProxy } = config;
  return JSON.stringify([config.clientCaPem, frontProxy && { ...frontProxy, cas: undefined }]);
}

export class AuthenticationConfigMap {
  private config?: ExtensionApiserverAuthentication;
  private lastFailure?: string;
  private timer?: NodeJS.Timeout;
  private retryMs: number;
  private closed = false;
  private readonly listeners: Array<(config: ExtensionApiserverAuthentication) => void> = [];
  private readonly refreshIntervalMs: number;
  private readonly firstRetryMs: number;
  private readonly maxRetryMs: number;

  constructor(
    private readonly api: Pick<DelegationApi, 'readConfigMap' | 'describe'>,
    private readonly logger: Logger,
    options: AuthenticationConfigMapOptions = {},
  ) {
    this.refreshIntervalMs = options.refreshIntervalMs ?? 60_000;
    this.firstRetryMs = options.firstRetryMs ?? 1_000;
    this.maxRetryMs = options.maxRetryMs ?? 60_000;
    this.retryMs = this.firstRetryMs;
  }

  /** The configuration last read; undefined until the first read succeeds. */
  current(): ExtensionApiserverAuthentication | undefined {
    return this.config;
  }

  /** Why there is no configuration yet, for the 503 a front-proxied request gets meanwhile. */
  pendingReason(): string {
    return this.lastFailure ?? `the control plane is reading ConfigMap ${CONFIGMAP}`;
  }

  /** Called with every new or changed configuration (and at once when one is already known). */
  onChange(listener: (config: ExtensionApiserverAuthentication) => void): void {
    this.listeners.push(listener);
    if (this.config) listener(this.config);
  }

  /** Starts reading; resolves after the first attempt, whatever its outcome. */
  start(): Promise<void> {
    return this.refresh();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private async refresh(): Promise<void> {
    let next: ExtensionApiserverAuthentication;
    try {
      next = parseAuthenticationConfigMap(await this.api.readConfigMap(AUTHENTICATION_CONFIGMAP.namespace, AUTHENTICATION_CONFIGMAP.name));
    } catch (error) {
      this.failed(error as Error);
      return;
    }
    if (this.closed) return;
    this.lastFailure = undefined;
    this.retryMs = this.firstRetryMs;
    if (!this.config || identity(this.config) !== identity(next)) {
      const first = !this.config;
      this.config = next;
      if (next.frontProxy) {
        this.logger.info({ configMap: CONFIGMAP, ...summary(next) }, first ? 'delegated authentication: front-proxy configuration read' : 'delegated authentication: front-proxy configuration changed');
      } else {
        this.logger.error(
          { configMap: CONFIGMAP },
          `delegated authentication: ${CONFIGMAP} has no requestheader-client-ca-file: kube-apiserver runs without --requestheader-client-ca-file, so the aggregation layer cannot reach Portolan as a front proxy; every request that names a user in headers is refused until it does`,
        );
      }
      for (const listener of this.listeners) listener(next);
    }
    this.schedule(this.refreshIntervalMs);
  }

  private failed(error: Error): void {
    if (this.closed) return;
    this.lastFailure = `cannot read ConfigMap ${CONFIGMAP}: ${error.message}`;
    if (this.config) {
      this.logger.warn({ configMap: CONFIGMAP, err: error }, `delegated authentication: ${this.lastFailure}; keeping the configuration read before`);
      this.schedule(this.refreshIntervalMs);
      return;
    }
    this.logger.error({ configMap: CONFIGMAP, err: error, retryInMs: this.retryMs }, `delegated authentication: ${this.lastFailure}; front-proxied requests are refused (503) until it is read, bearer tokens keep working`);
    this.schedule(this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, this.maxRetryMs);
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.refresh(), delayMs);
    this.timer.unref();
  }
}
