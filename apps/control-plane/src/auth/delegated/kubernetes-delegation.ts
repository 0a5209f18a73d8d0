/**
 * Delegated authentication and authorization (PORTOLAN_KUBERNETES_AUTH=delegated), as an
 * aggregated API server does them: kube-apiserver authenticates the user and proxies the request
 * with its front-proxy client certificate and the user in headers; Portolan believes the headers
 * only from that certificate, and asks the cluster's RBAC (SubjectAccessReview) whether the user
 * may do what the request asks. AuthGuard calls `authenticate` before bearer tokens and
 * `authorize` instead of comparing roles.
 *
 * Front-proxied users reach the mesh.portolan.dev group and discovery (/api, /apis, /openapi)
 * only: that is all an APIService routes to Portolan, so a front-proxied request for the
 * dashboard's /v1 routes or the gateways' /agent routes is not one kube-apiserver sends, and is
 * refused rather than mapped onto RBAC rules nobody would write.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { API_GROUP } from '@portolan/api';
import { ApiError } from '../../errors/api-error';
import { AuthenticationConfigMap, type AuthenticationConfigMapOptions } from './authentication-configmap';
import { presentedCertificate } from '../../tls/client-certificate';
import { verifyFrontProxyCertificate, type FrontProxyVerdict } from './front-proxy-certificate';
import type { DelegationApi } from './kubernetes-client';
import { forbiddenMessage, requestAttributes, type RequestAttributes } from './request-attributes';
import { AUTHENTICATION_CONFIGMAP, CONVENTIONAL_HEADER_NAMES, identityHeadersPresent, userFromHeaders, type FrontProxyTrust, type KubernetesUser } from './request-header';
import { SubjectAccessReviewer, type SubjectAccessReviewerOptions } from './subject-access-review';

/** Nest injection token of the KubernetesDelegation (null when delegation is off). */
export const KUBERNETES_DELEGATION = 'portolan:kubernetes-delegation';

/** Who a front-proxied request acts for: RBAC decides what it may do, so it has no Portolan role. */
export interface KubernetesPrincipal {
  /** `kubernetes:<user>` (see kubernetesPrincipal): the actor of its writes and the principal of its logs. */
  name: string;
  kubernetes: KubernetesUser;
}

/**
 * How a Kubernetes user is named in history, events and logs: `kubernetes:jane`,
 * `kubernetes:system:serviceaccount:ci:deployer`. The prefix keeps it apart from a Portolan token
 * of the same name (a token named `admin` and the Kubernetes user `admin` are different people).
 * Messages in kube-apiserver's words (401, 403) name the user as Kubernetes does, without it.
 */
export function kubernetesPrincipal(user: KubernetesUser): KubernetesPrincipal {
  return { name: `kubernetes:${user.name}`, kubernetes: user };
}

/** A front-proxy verdict is re-checked this often on a kept-alive connection, so expiry and CA rotation are noticed. */
const VERDICT_TTL_MS = 60_000;
/** At most one log line per this long about the SubjectAccessReview API failing, however many requests it fails. */
const FAILURE_LOG_INTERVAL_MS = 30_000;

const CONFIGMAP = `${AUTHENTICATION_CONFIGMAP.namespace}/${AUTHENTICATION_CONFIGMAP.name}`;

/** What an APIService routes to Portolan: its group, and the discovery and OpenAPI the aggregator reads. */
function reachableThroughAggregation(attributes: RequestAttributes): boolean {
  if (attributes.kind === 'resource') return attributes.group === API_GROUP;
  return /^\/(api|apis|openapi)(\/|$)/.test(attributes.path);
}

export interface KubernetesDelegationOptions {
  configMap?: AuthenticationConfigMapOptions;
  reviews?: SubjectAccessReviewerOptions;
  now?: () => Date;
}

export class KubernetesDelegation {
  private readonly configMap: AuthenticationConfigMap;
  private readonly reviewer: SubjectAccessReviewer;
  private readonly verdicts = new WeakMap<Socket, { trust: FrontProxyTrust | undefined; verdict: FrontProxyVerdict; checkedAt: number }>();
  private readonly now: () => Date;
  private lastFailureLog = 0;

  constructor(
    api: DelegationApi,
    private readonly logger: Logger,
    options: KubernetesDelegationOptions = {},
  ) {
    this.configMap = new AuthenticationConfigMap(api, logger, options.configMap);
    this.reviewer = new SubjectAccessReviewer(api, options.reviews);
    this.now = options.now ?? (() => new Date());
  }

  /** Reads the ConfigMap for the first time (and keeps re-reading it); resolves after the first attempt, whatever its outcome. */
  start(): Promise<void> {
    return this.configMap.start();
  }

  /**
   * Has `server` ask clients for a certificate issued by the front-proxy CA, so that a client with
   * several certificates (kube-apiserver's Go client) picks the front-proxy one. The server must
   * have been created with `requestCert: true, rejectUnauthorized: false`: the certificate is
   * asked for, not required (bearer-token clients send none), and judged per request here.
   */
  advertiseFrontProxyCa(server: Pick<TlsServer, 'setSecureContext'>, serving: { keyPem: string; certPem: string; agentClientCaPem?: string }): void {
    this.configMap.onChange((config) => {
      // The agent CA (PORTOLAN_TLS_AGENT_CLIENT_CA_FILE), when set, stays offered next to the front-proxy CA.
      const ca = [config.frontProxy?.caPem, serving.agentClientCaPem].filter((pem): pem is string => pem !== undefined);
      try {
        server.setSecureContext({ key: serving.keyPem, cert: serving.certPem, ...(ca.length > 0 ? { ca } : {}) });
      } catch (error) {
        this.logger.error({ err: error, configMap: CONFIGMAP }, 'delegated authentication: cannot offer the front-proxy CA to TLS clients; keeping the previous TLS settings');
      }
    });
  }

  close(): void {
    this.configMap.close();
  }

  /**
   * Why this replica cannot serve front-proxied requests yet, for /readyz; undefined once the
   * ConfigMap has been read (a later failed read keeps that configuration, so it stays ready).
   * Until then every request kube-apiserver proxies would be answered 503, so a replica that
   * cannot read it (RBAC, API down) must not receive the APIService's traffic.
   */
  notReadyReason(): string | undefined {
    if (this.configMap.current()) return undefined;
    return `delegated authentication (PORTOLAN_KUBERNETES_AUTH=delegated) has not read ConfigMap ${CONFIGMAP} yet: ${this.configMap.pendingReason()}; until it has, every request kube-apiserver proxies is answered 503`;
  }

  /** Whether the request carries identity headers, which only authenticate() may judge. */
  claimsIdentity(request: IncomingMessage): boolean {
    return identityHeadersPresent(request.headersDistinct, this.configMap.current()?.frontProxy ?? CONVENTIONAL_HEADER_NAMES).length > 0;
  }

  /**
   * The Kubernetes user a request is front-proxied for, or undefined when it names none (then
   * bearer tokens apply). A request that names a user in the identity headers without a verified
   * front-proxy certificate is refused 401: no client may claim a user by setting X-Remote-User.
   */
  authenticate(request: IncomingMessage): KubernetesUser | undefined {
    const config = this.configMap.current();
    const frontProxy = config?.frontProxy;
    const claimed = identityHeadersPresent(request.headersDistinct, frontProxy ?? CONVENTIONAL_HEADER_NAMES);
    if (claimed.length === 0) return undefined;
    if (!config) {
      throw ApiError.of(503, 'ServiceUnavailable', `the request carries ${claimed.join(', ')}, which say who the user is, but delegated authentication is not ready: ${this.configMap.pendingReason()}; retry later, or authenticate with a bearer token without those headers`);
    }
    const verdict = this.verify(request.socket, frontProxy);
    if (!verdict.trusted) {
      const allowed = frontProxy?.allowedNames.length ? ` with a CN in requestheader-allowed-names ${JSON.stringify(frontProxy.allowedNames)}` : '';
      throw ApiError.of(
        401,
        'Unauthorized',
        `Unauthorized: the request carries ${claimed.join(', ')}, which say who the user is, but ${verdict.reason}. Only kube-apiserver's front proxy (a client certificate signed by requestheader-client-ca-file of ConfigMap ${CONFIGMAP}${allowed}) may send them; other clients authenticate with a bearer token and send none of those headers`,
      );
    }
    return userFromHeaders(request.headersDistinct, frontProxy!);
  }

  /**
   * Whether `user` may do what the request asks, as the cluster's RBAC answers a SubjectAccessReview.
   * Throws 403 (kube-apiserver's Forbidden message) when it may not, and 503 when the Kubernetes
   * API cannot be asked: the request is then refused, never let through.
   */
  async authorize(user: KubernetesUser, method: string, url: string): Promise<void> {
    const attributes = requestAttributes(method, url);
    if (!reachableThroughAggregation(attributes)) {
      const path = attributes.kind === 'nonResource' ? attributes.path : url.split('?')[0];
      throw ApiError.of(
        403,
        'Forbidden',
        `forbidden: User ${JSON.stringify(user.name)} came through kube-apiserver's front proxy, which serves only the ${API_GROUP} API and its discovery; ${method} ${path} is for Portolan bearer tokens (the dashboard, gateways)`,
      );
    }
    let decision;
    try {
      decision = await this.reviewer.review(user, attributes);
    } catch (error) {
      this.logFailure(error as Error, user, attributes);
      throw ApiError.of(
        503,
        'ServiceUnavailable',
        `cannot authorize User ${JSON.stringify(user.name)}: the Kubernetes API could not be asked (${(error as Error).message}). Nothing was done; retry later`,
      );
    }
    if (decision.allowed) return;
    this.logger.debug({ user: user.name, groups: user.groups, attributes, reason: decision.reason, cached: decision.cached }, 'delegated authorization: denied');
    const details = attributes.kind === 'resource' ? { group: attributes.group, kind: attributes.resource, ...(attributes.name ? { name: attributes.name } : {}) } : undefined;
    throw ApiError.of(403, 'Forbidden', forbiddenMessage(user.name, attributes, decision.reason), details);
  }

  private verify(socket: Socket, trust: FrontProxyTrust | undefined): FrontProxyVerdict {
    const now = this.now();
    const known = this.verdicts.get(socket);
    if (known && known.trust === trust && now.getTime() - known.checkedAt < VERDICT_TTL_MS) return known.verdict;
    const verdict = verifyFrontProxyCertificate(presentedCertificate(socket), trust, now);
    this.verdicts.set(socket, { trust, verdict, checkedAt: now.getTime() });
    return verdict;
  }

  private logFailure(error: Error, user: KubernetesUser, attributes: RequestAttributes): void {
    const now = Date.now();
    if (now - this.lastFailureLog < FAILURE_LOG_INTERVAL_MS) return;
    this.lastFailureLog = now;
    this.logger.error({ err: error, user: user.name, attributes }, 'delegated authorization: the SubjectAccessReview failed; front-proxied requests are refused (503) until the Kubernetes API answers');
  }
}
