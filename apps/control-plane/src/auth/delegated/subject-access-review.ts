/**
 * Delegated authorization: whether a front-proxied Kubernetes user may do what a request asks is
 * the cluster's RBAC to decide, asked with a SubjectAccessReview (authorization.k8s.io/v1), as
 * every aggregated API server does. Answers are cached 10 seconds, allowed or denied: the defaults
 * of k8s.io/apiserver's delegating authorizer (DelegatingAuthorizationOptions), which aggregated
 * API servers use, so a revoked RoleBinding stops working here, and a new one starts, within 10
 * seconds. (kube-apiserver's webhook authorizer keeps answers 5 minutes and 30 seconds, but that is
 * kube-apiserver asking a webhook, not a server behind kube-apiserver asking it; kube-apiserver
 * also authorizes a request before proxying it, which an aggregated API server must not rely on.)
 * A review that cannot be made is an error, never an answer: the caller refuses the request (fail
 * closed).
 */
import type { RequestAttributes } from './request-attributes';
import type { KubernetesUser } from './request-header';
import { ExpiringCache } from './expiring-cache';

/** authorization.k8s.io/v1 SubjectAccessReviewSpec, empty fields left out as kube's client leaves them out. */
export interface SubjectAccessReviewSpec {
  user: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
  resourceAttributes?: Partial<Record<'group' | 'version' | 'resource' | 'subresource' | 'namespace' | 'name' | 'verb', string>>;
  nonResourceAttributes?: { path: string; verb: string };
}

/** authorization.k8s.io/v1 SubjectAccessReviewStatus. */
export interface SubjectAccessReviewStatus {
  allowed: boolean;
  denied?: boolean;
  reason?: string;
  evaluationError?: string;
}

export interface AccessDecision {
  allowed: boolean;
  /** Why, as the authorizer said (RBAC usually says nothing on a denial). */
  reason?: string;
  /** Whether the answer came from the cache. */
  cached: boolean;
}

/** What the reviewer needs from the Kubernetes API; kubernetes-client.ts is the real one. */
export interface SubjectAccessReviewApi {
  createSubjectAccessReview(spec: SubjectAccessReviewSpec): Promise<SubjectAccessReviewStatus>;
}

export interface SubjectAccessReviewerOptions {
  /** Default 10 s: the delegating authorizer's --authorization-webhook-cache-authorized-ttl. */
  allowedTtlMs?: number;
  /** Default 10 s: the delegating authorizer's --authorization-webhook-cache-unauthorized-ttl. */
  deniedTtlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

/**
 * kube-apiserver allows system:masters whatever RBAC says, so a review for it can only say yes;
 * k8s.io/apiserver's delegating authorizer skips it (AlwaysAllowGroups) and so does this one.
 */
const PRIVILEGED_GROUP = 'system:masters';

function withoutEmpty(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== ''));
}

/** The review to ask for `user` doing what `attributes` describe. */
export function subjectAccessReviewSpec(user: KubernetesUser, attributes: RequestAttributes): SubjectAccessReviewSpec {
  const subject = {
    user: user.name,
    ...(user.uid ? { uid: user.uid } : {}),
    ...(user.groups.length ? { groups: user.groups } : {}),
    ...(Object.keys(user.extra).length ? { extra: user.extra } : {}),
  };
  if (attributes.kind === 'nonResource') return { ...subject, nonResourceAttributes: { path: attributes.path, verb: attributes.verb } };
  const { kind: _kind, ...resource } = attributes;
  return { ...subject, resourceAttributes: withoutEmpty(resource) };
}

export class SubjectAccessReviewer {
  private readonly cache: ExpiringCache<SubjectAccessReviewStatus>;
  /** Reviews being asked, so that a burst of identical requests asks once. */
  private readonly inFlight = new Map<string, Promise<SubjectAccessReviewStatus>>();
  private readonly allowedTtlMs: number;
  private readonly deniedTtlMs: number;

  constructor(
    private readonly api: SubjectAccessReviewApi,
    options: SubjectAccessReviewerOptions = {},
  ) {
    this.allowedTtlMs = options.allowedTtlMs ?? 10_000;
    this.deniedTtlMs = options.deniedTtlMs ?? 10_000;
    this.cache = new ExpiringCache(options.maxEntries ?? 8192, options.now);
  }

  /** Rejects with the API's error when the review cannot be made; nothing is cached then. */
  async review(user: KubernetesUser, attributes: RequestAttributes): Promise<AccessDecision> {
    if (user.groups.includes(PRIVILEGED_GROUP)) return { allowed: true, reason: `member of ${PRIVILEGED_GROUP}`, cached: false };
    const spec = subjectAccessReviewSpec(user, attributes);
    const key = JSON.stringify(spec);
    const known = this.cache.get(key);
    if (known) return decision(known, true);
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.api.createSubjectAccessReview(spec).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    const status = await pending;
    this.cache.set(key, status, status.allowed ? this.allowedTtlMs : this.deniedTtlMs);
    return decision(status, false);
  }
}

/** `allowed: false` without `denied` is "no opinion", which the last authorizer in a chain turns into a denial. */
function decision(status: SubjectAccessReviewStatus, cached: boolean): AccessDecision {
  const reason = status.reason || status.evaluationError || undefined;
  return { allowed: status.allowed === true, ...(reason ? { reason } : {}), cached };
}
