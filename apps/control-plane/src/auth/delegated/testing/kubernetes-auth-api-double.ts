/**
 * A stand-in Kubernetes API server for delegation's tests, beside the scaler's
 * (autoscaling/testing/kubernetes-api-double.ts): node:http on a loopback port, speaking the real
 * API's JSON for exactly what delegation uses, as Kubernetes documents it:
 *  - ConfigMap kube-system/extension-apiserver-authentication (core/v1; data keys client-ca-file,
 *    requestheader-client-ca-file, requestheader-allowed-names, requestheader-username-headers,
 *    requestheader-group-headers, requestheader-extra-headers-prefix, the lists as JSON);
 *  - SubjectAccessReviews (authorization.k8s.io/v1, POST, answered 201 with `status.allowed`),
 *    decided by rules the test sets, every review recorded;
 *  - APIServices (apiregistration.k8s.io/v1, GET and JSON merge PATCH; `spec.caBundle` is base64).
 * It requires the bearer token of the kubeconfig it writes, and answers 403 in kube-apiserver's
 * words for the permissions a test withholds.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SubjectAccessReviewSpec } from '../subject-access-review';

/** A permission the control plane's identity may be denied. */
export type WithheldPermission = 'get configmaps' | 'create subjectaccessreviews' | 'get apiservices' | 'patch apiservices';

/** One rule of the authorization table; unset fields match anything. The first matching rule decides; none matching is a denial. */
export interface AccessRule {
  user?: string;
  group?: string;
  verb?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  path?: string;
  allowed: boolean;
  /** status.reason of the answer. */
  reason?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  contentType?: string;
  body?: unknown;
}

interface StoredApiService {
  metadata: { name: string; uid: string; resourceVersion: string; creationTimestamp: string };
  spec: Record<string, unknown>;
}

const CONFIGMAP_PATH = '/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication';
const SAR_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';
const APISERVICE_PATH = /^\/apis\/apiregistration\.k8s\.io\/v1\/apiservices\/([^/]+)$/;

class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: object,
  ) {
    super(message);
  }
}

/** RFC 7386. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const result: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

export class KubernetesAuthApiDouble {
  /** Every request received, oldest first. */
  readonly requests: RecordedRequest[] = [];
  /** The spec of every SubjectAccessReview asked, oldest first. */
  readonly reviews: SubjectAccessReviewSpec[] = [];
  /** The authorization table SubjectAccessReviews are answered from. */
  accessRules: AccessRule[] = [];
  /** `data` of the ConfigMap; undefined answers 404 (a cluster without it). */
  authenticationConfigMap?: Record<string, string>;
  /** `unavailable`: SubjectAccessReview requests get their connection cut, as from an API server that is down. */
  subjectAccessReviews: 'answer' | 'unavailable' = 'answer';
  readonly withheld = new Set<WithheldPermission>();
  private readonly apiServices = new Map<string, StoredApiService>();
  private resourceVersion = 100;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly token: string,
    /** Who the control plane is to this API, as Forbidden messages name it. */
    readonly controlPlaneUser: string,
  ) {}

  static async start(): Promise<KubernetesAuthApiDouble> {
    const server = createServer();
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    const { port } = server.address() as AddressInfo;
    const double = new KubernetesAuthApiDouble(server, `http://127.0.0.1:${port}`, `double-token-${randomUUID()}`, 'system:serviceaccount:portolan:portolan-control-plane');
    server.on('request', (request, response) => void double.handle(request, response));
    return double;
  }

  /** Creates an APIService as the deploy manifests would, pointing at `service`. */
  addApiService(name: string, spec: { service: { namespace: string; name: string; port?: number }; caBundle?: string; insecureSkipTLSVerify?: boolean }): void {
    const [version, ...group] = name.split('.');
    this.apiServices.set(name, {
      metadata: { name, uid: randomUUID(), resourceVersion: String(this.resourceVersion++), creationTimestamp: new Date().toISOString() },
      spec: { group: group.join('.'), version, groupPriorityMinimum: 1000, versionPriority: 15, ...spec, service: { port: 443, ...spec.service } },
    });
  }

  /** The APIService as stored; undefined when there is none of that name. */
  apiService(name: string): { spec: Record<string, unknown> } | undefined {
    return this.apiServices.get(name);
  }

  /** Writes a kubeconfig pointing at this server with its token (http, so insecure-skip-tls-verify is set, as @kubernetes/client-node requires). */
  writeKubeconfig(path: string): void {
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'double', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'control-plane', user: { token: this.token } }],
      contexts: [{ name: 'double', context: { cluster: 'double', user: 'control-plane' } }],
      'current-context': 'double',
    };
    writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((closed) => this.server.close(closed));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    const method = request.method ?? 'GET';
    const path = new URL(request.url ?? '/', this.url).pathname;
    const contentType = request.headers['content-type'];
    this.requests.push({ method, path, ...(contentType ? { contentType } : {}), ...(body === undefined ? {} : { body }) });
    try {
      if (request.headers.authorization !== `Bearer ${this.token}`) throw new StatusError(401, 'Unauthorized', 'Unauthorized');
      this.route(request, response, method, path, contentType, body);
    } catch (error) {
      if (!(error instanceof StatusError)) throw error;
      this.send(response, error.code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: error.message, reason: error.reason, ...(error.details ? { details: error.details } : {}), code: error.code });
    }
  }

  private route(request: IncomingMessage, response: ServerResponse, method: string, path: string, contentType: string | undefined, body: unknown): void {
    if (path === CONFIGMAP_PATH && method === 'GET') {
      this.check('get configmaps', 'configmaps', '', 'extension-apiserver-authentication', 'kube-system');
      if (!this.authenticationConfigMap) throw new StatusError(404, 'NotFound', 'configmaps "extension-apiserver-authentication" not found', { name: 'extension-apiserver-authentication', kind: 'configmaps' });
      return this.send(response, 200, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'extension-apiserver-authentication', namespace: 'kube-system', uid: 'configmap-uid', resourceVersion: String(this.resourceVersion) },
        data: this.authenticationConfigMap,
      });
    }
    if (path === SAR_PATH && method === 'POST') {
      if (this.subjectAccessReviews === 'unavailable') {
        request.socket.destroy();
        return;
      }
      this.check('create subjectaccessreviews', 'subjectaccessreviews', 'authorization.k8s.io');
      return this.send(response, 201, this.review(body));
    }
    const apiService = APISERVICE_PATH.exec(path);
    if (apiService) {
      const name = apiService[1];
      const verb = method === 'GET' ? 'get' : method === 'PATCH' ? 'patch' : undefined;
      if (!verb) throw new StatusError(405, 'MethodNotAllowed', `${method} is not supported on apiservices by this double`);
      this.check(`${verb} apiservices`, 'apiservices', 'apiregistration.k8s.io', name);
      const stored = this.apiServices.get(name);
      if (!stored) throw new StatusError(404, 'NotFound', `apiservices.apiregistration.k8s.io "${name}" not found`, { name, group: 'apiregistration.k8s.io', kind: 'apiservices' });
      if (verb === 'patch') this.patchApiService(stored, contentType, body);
      return this.send(response, 200, { apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService', ...stored, status: { conditions: [] } });
    }
    throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
  }

  /** kube-apiserver's Forbidden for a permission the test withholds. */
  private check(permission: WithheldPermission, resource: string, group: string, name?: string, namespace?: string): void {
    if (!this.withheld.has(permission)) return;
    const verb = permission.split(' ')[0];
    const qualified = group ? `${resource}.${group}` : resource;
    const scope = namespace ? `in the namespace "${namespace}"` : 'at the cluster scope';
    throw new StatusError(403, 'Forbidden', `${qualified}${name ? ` "${name}"` : ''} is forbidden: User "${this.controlPlaneUser}" cannot ${verb} resource "${resource}" in API group "${group}" ${scope}`, {
      ...(name ? { name } : {}),
      group,
      kind: resource,
    });
  }

  private review(body: unknown) {
    const review = body as { apiVersion?: string; kind?: string; spec?: SubjectAccessReviewSpec };
    if (review?.apiVersion !== 'authorization.k8s.io/v1' || review.kind !== 'SubjectAccessReview' || !review.spec) {
      throw new StatusError(400, 'BadRequest', 'expected a SubjectAccessReview of authorization.k8s.io/v1 with a spec');
    }
    const spec = review.spec;
    // The API server's validation (pkg/apis/authorization/validation).
    if (!!spec.resourceAttributes === !!spec.nonResourceAttributes) {
      throw new StatusError(422, 'Invalid', 'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified');
    }
    if (!spec.user && !spec.groups?.length) {
      throw new StatusError(422, 'Invalid', 'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified');
    }
    this.reviews.push(spec);
    const attributes = { ...(spec.resourceAttributes ?? {}), ...(spec.nonResourceAttributes ?? {}) } as Record<string, string | undefined>;
    const rule = this.accessRules.find(
      (candidate) =>
        (candidate.user === undefined || candidate.user === spec.user) &&
        (candidate.group === undefined || (spec.groups ?? []).includes(candidate.group)) &&
        (['verb', 'resource', 'subresource', 'namespace', 'name', 'path'] as const).every((field) => candidate[field] === undefined || candidate[field] === (attributes[field] ?? '')),
    );
    const status = rule ? { allowed: rule.allowed, ...(rule.reason ? { reason: rule.reason } : {}) } : { allowed: false };
    return { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', metadata: { creationTimestamp: null }, spec, status };
  }

  private patchApiService(stored: StoredApiService, contentType: string | undefined, body: unknown): void {
    if (contentType?.split(';')[0].trim() !== 'application/merge-patch+json') {
      throw new StatusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`);
    }
    const patched = mergePatch({ spec: stored.spec }, body) as { spec: Record<string, unknown> };
    const caBundle = patched.spec.caBundle;
    // spec.caBundle is []byte: JSON carries it as base64, and anything else does not decode.
    if (caBundle !== undefined && (typeof caBundle !== 'string' || Buffer.from(caBundle, 'base64').toString('base64') !== caBundle)) {
      throw new StatusError(400, 'BadRequest', 'json: cannot unmarshal spec.caBundle: illegal base64 data');
    }
    if (patched.spec.insecureSkipTLSVerify === true && caBundle) {
      throw new StatusError(422, 'Invalid', `APIService.apiregistration.k8s.io "${stored.metadata.name}" is invalid: spec.insecureSkipTLSVerify: Invalid value: true: may not be true if caBundle is present`);
    }
    stored.spec = patched.spec;
    stored.metadata.resourceVersion = String(this.resourceVersion++);
  }

  private send(response: ServerResponse, code: number, body: unknown): void {
    response.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }
}
