/**
 * A stand-in Kubernetes API server for the Kubernetes scaler's tests: node:http on a loopback port,
 * speaking the real API's JSON for just what `kubectl scale`, `kubectl get` and the scaler use:
 * legacy discovery, Deployments and StatefulSets, and their `scale` subresource (autoscaling/v1
 * Scale). It records every request, so a test can compare what kubectl sent with what the scaler
 * sends. Request contract: /work/shared/reference/kubectl.md (§2 dispatcher, §4 discovery, §11).
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type WorkloadKind = 'Deployment' | 'StatefulSet';

/** One request as the double received it. */
export interface RecordedRequest {
  method: string;
  /** Path with the query string, as sent (`/apis/apps/v1/namespaces/portolan/deployments/edge-zone-a/scale`). */
  path: string;
  /** The Content-Type header, absent on requests without one. */
  contentType?: string;
  accept?: string;
  userAgent?: string;
  /** Whether an `Authorization` header came (kubectl sends none to an http:// server). */
  authenticated: boolean;
  /** The body parsed as JSON when it is JSON, else the raw text; absent when empty. */
  body?: unknown;
  /** The body as sent, byte for byte (UTF-8); absent when empty. */
  rawBody?: string;
}

export interface WorkloadSeed {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  /** spec.replicas: the count asked for. */
  replicas: number;
  /** status.replicas: the Pods the controller runs. Default: `replicas`. The double runs no controller, so a scale leaves it as it was. */
  runningReplicas?: number;
}

interface Workload extends Required<WorkloadSeed> {
  uid: string;
  resourceVersion: number;
  generation: number;
  created: string;
}

/** The kind a URL's resource names. */
const KIND_OF: Record<string, WorkloadKind> = { deployments: 'Deployment', statefulsets: 'StatefulSet' };

/**
 * `minor` decides which kubectl /usr/bin/kubectl (the Cloud SDK dispatcher) runs; 27 and 28 pick
 * clients that need OpenAPI v2, anything from 29 up works, and 32 is the dispatcher's own
 * built-in client (kubectl.md §2, §10).
 */
const VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-portolan-double',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2025-01-01T00:00:00Z',
  goVersion: 'go1.23.4',
  compiler: 'gc',
  platform: 'linux/amd64',
};

const WORKLOAD_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** Legacy discovery (`APIResourceList`); kubectl falls back to it when aggregated discovery is not offered (kubectl.md §4). */
const APPS_V1_RESOURCES = {
  kind: 'APIResourceList',
  apiVersion: 'v1',
  groupVersion: 'apps/v1',
  resources: [
    { name: 'deployments', singularName: 'deployment', namespaced: true, kind: 'Deployment', verbs: WORKLOAD_VERBS, shortNames: ['deploy'], categories: ['all'] },
    // group/version/kind of a scale subresource is how client-go's scale client learns that it speaks autoscaling/v1 Scale.
    { name: 'deployments/scale', singularName: '', namespaced: true, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] },
    { name: 'statefulsets', singularName: 'statefulset', namespaced: true, kind: 'StatefulSet', verbs: WORKLOAD_VERBS, shortNames: ['sts'], categories: ['all'] },
    { name: 'statefulsets/scale', singularName: '', namespaced: true, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] },
  ],
};

const API_GROUPS = {
  kind: 'APIGroupList',
  apiVersion: 'v1',
  groups: [{ name: 'apps', versions: [{ groupVersion: 'apps/v1', version: 'v1' }], preferredVersion: { groupVersion: 'apps/v1', version: 'v1' } }],
};

const WORKLOAD_PATH = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/(deployments|statefulsets)(?:\/([^/]+)(?:\/(scale))?)?$/;

/** The patch types the real API server takes on a scale subresource, except JSON patch (nobody scales with it). For `{"spec":{"replicas":n}}` merge and strategic merge mean the same. */
const MERGE_PATCH_TYPES = ['application/merge-patch+json', 'application/strategic-merge-patch+json'];

class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const merged: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    else merged[key] = mergePatch(merged[key], value);
  }
  return merged;
}

export class KubernetesApiDouble {
  /** Every request received, oldest first. */
  readonly requests: RecordedRequest[] = [];
  /**
   * Answer workload requests (not discovery or /version) with 403 Forbidden, as kube-apiserver does
   * for a user without the RBAC rule: `true` refuses every verb, a list only those verbs (`['patch']`:
   * a Role that grants get but not patch).
   */
  forbid: boolean | readonly string[] = false;
  /** Never answer workload requests (a hung API server); the connections are cut by `close()`. */
  stall = false;

  private readonly workloads = new Map<string, Workload>();
  private readonly stalled = new Set<ServerResponse>();
  private nextResourceVersion = 1000;

  private constructor(
    private readonly server: Server,
    /** `http://127.0.0.1:PORT`. */
    readonly url: string,
    /** The bearer token of the kubeconfig user `writeKubeconfig` writes. */
    readonly token: string,
    /** Who a request with that token is, as named in Forbidden messages. Requests without it are `system:anonymous`. */
    readonly user: string,
  ) {}

  static async start(options: { user?: string } = {}): Promise<KubernetesApiDouble> {
    const server = createServer();
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    const { port } = server.address() as AddressInfo;
    const double = new KubernetesApiDouble(server, `http://127.0.0.1:${port}`, `double-token-${randomUUID()}`, options.user ?? 'system:serviceaccount:portolan:portolan-control-plane');
    server.on('request', (request, response) => void double.handle(request, response));
    return double;
  }

  addWorkload(seed: WorkloadSeed): void {
    this.workloads.set(this.key(seed.kind, seed.namespace, seed.name), {
      ...seed,
      runningReplicas: seed.runningReplicas ?? seed.replicas,
      uid: randomUUID(),
      resourceVersion: this.nextResourceVersion++,
      generation: 1,
      created: new Date().toISOString(),
    });
  }

  /** spec.replicas of a workload the double holds; undefined when it holds none of that name. */
  replicas(kind: WorkloadKind, namespace: string, name: string): number | undefined {
    return this.workloads.get(this.key(kind, namespace, name))?.replicas;
  }

  /** The recorded requests to a scale subresource (`…/scale`), oldest first. */
  scaleRequests(): RecordedRequest[] {
    return this.requests.filter((request) => new URL(request.path, this.url).pathname.endsWith('/scale'));
  }

  /**
   * Writes a kubeconfig whose current context points at this server with a token user. The server
   * URL is plain http, so `insecure-skip-tls-verify: true` is set: @kubernetes/client-node 1.x
   * refuses http:// clusters without it ("HTTP protocol is not allowed when skipTLSVerify is not
   * set or false"). kubectl does not mind it, and sends no token over http (kubectl.md §9).
   */
  writeKubeconfig(path: string, namespace?: string): void {
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'portolan-double', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'portolan-control-plane', user: { token: this.token } }],
      contexts: [{ name: 'portolan-double', context: { cluster: 'portolan-double', user: 'portolan-control-plane', ...(namespace ? { namespace } : {}) } }],
      'current-context': 'portolan-double',
      preferences: {},
    };
    // JSON is YAML; kubectl and client-node read either.
    writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
  }

  async close(): Promise<void> {
    for (const response of this.stalled) response.destroy();
    this.stalled.clear();
    this.server.closeAllConnections();
    await new Promise((closed) => this.server.close(closed));
  }

  private key(kind: WorkloadKind, namespace: string, name: string): string {
    return `${kind}/${namespace}/${name}`;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const contentType = request.headers['content-type'];
    let body: unknown = text === '' ? undefined : text;
    if (text !== '' && contentType?.includes('json')) {
      try {
        body = JSON.parse(text);
      } catch {
        // Kept as text: a test asserting on the body then shows what was sent.
      }
    }
    const method = request.method ?? 'GET';
    const path = request.url ?? '/';
    this.requests.push({
      method,
      path,
      ...(contentType === undefined ? {} : { contentType }),
      ...(request.headers.accept === undefined ? {} : { accept: request.headers.accept }),
      ...(request.headers['user-agent'] === undefined ? {} : { userAgent: request.headers['user-agent'] }),
      authenticated: request.headers.authorization !== undefined,
      ...(body === undefined ? {} : { body, rawBody: text }),
    });
    try {
      this.route(request, response, method, new URL(path, this.url).pathname, contentType, body);
    } catch (error) {
      if (!(error instanceof StatusError)) throw error;
      this.send(response, error.code, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: error.message,
        reason: error.reason,
        ...(error.details ? { details: error.details } : {}),
        code: error.code,
      });
    }
  }

  private route(request: IncomingMessage, response: ServerResponse, method: string, pathname: string, contentType: string | undefined, body: unknown): void {
    // Discovery and /version answer anyone, as kube-apiserver's system:discovery and system:public-info-viewer roles do.
    if (method === 'GET' && pathname === '/version') return this.send(response, 200, VERSION);
    // No core resources are served; an empty APIVersions is accepted (kubectl.md §4).
    if (method === 'GET' && pathname === '/api') return this.send(response, 200, { kind: 'APIVersions', versions: [], serverAddressByClientCIDRs: [] });
    if (method === 'GET' && pathname === '/apis') return this.send(response, 200, API_GROUPS);
    if (method === 'GET' && pathname === '/apis/apps/v1') return this.send(response, 200, APPS_V1_RESOURCES);

    const match = WORKLOAD_PATH.exec(pathname);
    if (!match) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
    const [, namespace, resource, name, subresource] = match as unknown as [string, string, 'deployments' | 'statefulsets', string | undefined, 'scale' | undefined];
    const verb = !name ? (method === 'GET' ? 'list' : method.toLowerCase()) : ({ GET: 'get', PATCH: 'patch', PUT: 'update', DELETE: 'delete' } as Record<string, string>)[method] ?? method.toLowerCase();
    const rbacResource = subresource ? `${resource}/${subresource}` : resource;

    if (this.forbid === true || (Array.isArray(this.forbid) && this.forbid.includes(verb))) {
      const subject = request.headers.authorization === `Bearer ${this.token}` ? this.user : 'system:anonymous';
      // kube-apiserver's wording (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go).
      throw new StatusError(403, 'Forbidden', `${resource}.apps${name ? ` "${name}"` : ''} is forbidden: User "${subject}" cannot ${verb} resource "${rbacResource}" in API group "apps" in the namespace "${namespace}"`, {
        ...(name ? { name } : {}),
        group: 'apps',
        kind: resource,
      });
    }
    if (this.stall) {
      this.stalled.add(response);
      response.on('close', () => this.stalled.delete(response));
      return;
    }

    const kind = KIND_OF[resource];
    if (!name) {
      if (method !== 'GET') throw new StatusError(405, 'MethodNotAllowed', `${method} is not supported on ${resource} by this double`);
      const items = [...this.workloads.values()].filter((workload) => workload.kind === kind && workload.namespace === namespace).map((workload) => this.workloadObject(workload));
      return this.send(response, 200, { apiVersion: 'apps/v1', kind: `${kind}List`, metadata: { resourceVersion: String(this.nextResourceVersion) }, items });
    }

    const workload = this.workloads.get(this.key(kind, namespace, name));
    if (!workload) throw new StatusError(404, 'NotFound', `${resource}.apps "${name}" not found`, { name, group: 'apps', kind: resource });

    if (!subresource) {
      if (method !== 'GET') throw new StatusError(405, 'MethodNotAllowed', `${method} is not supported on ${resource} by this double; only their scale subresource is patched`);
      return this.send(response, 200, this.workloadObject(workload));
    }
    if (method === 'GET') return this.send(response, 200, this.scaleObject(workload));
    if (method !== 'PATCH') throw new StatusError(405, 'MethodNotAllowed', `${method} is not supported on ${resource}/scale by this double`);
    const patchType = contentType?.split(';')[0]?.trim() ?? '';
    if (!MERGE_PATCH_TYPES.includes(patchType)) {
      throw new StatusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${MERGE_PATCH_TYPES.join(', ')}`);
    }
    const patched = mergePatch(this.scaleObject(workload), body) as { spec?: { replicas?: unknown } };
    const replicas = patched.spec?.replicas;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw new StatusError(422, 'Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`, {
        name,
        group: 'autoscaling',
        kind: 'Scale',
        causes: [{ reason: 'FieldValueInvalid', message: 'must be greater than or equal to 0', field: 'spec.replicas' }],
      });
    }
    if (replicas !== workload.replicas) {
      workload.replicas = replicas;
      workload.generation += 1;
      workload.resourceVersion = this.nextResourceVersion++;
    }
    return this.send(response, 200, this.scaleObject(workload));
  }

  private scaleObject(workload: Workload) {
    return {
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
      metadata: {
        name: workload.name,
        namespace: workload.namespace,
        uid: workload.uid,
        resourceVersion: String(workload.resourceVersion),
        creationTimestamp: workload.created,
      },
      // Scale.spec.replicas is omitempty in the API: a workload scaled to zero answers `spec: {}`.
      spec: workload.replicas === 0 ? {} : { replicas: workload.replicas },
      status: { replicas: workload.runningReplicas, selector: `app=${workload.name}` },
    };
  }

  private workloadObject(workload: Workload) {
    const labels = { app: workload.name };
    return {
      apiVersion: 'apps/v1',
      kind: workload.kind,
      metadata: {
        name: workload.name,
        namespace: workload.namespace,
        uid: workload.uid,
        resourceVersion: String(workload.resourceVersion),
        generation: workload.generation,
        creationTimestamp: workload.created,
        labels,
      },
      spec: {
        replicas: workload.replicas,
        selector: { matchLabels: labels },
        ...(workload.kind === 'StatefulSet' ? { serviceName: workload.name } : {}),
        template: { metadata: { labels }, spec: { containers: [{ name: 'gateway', image: 'portolan/gateway:dev' }] } },
      },
      status: { replicas: workload.runningReplicas, readyReplicas: workload.runningReplicas, availableReplicas: workload.runningReplicas },
    };
  }

  private send(response: ServerResponse, code: number, body: unknown): void {
    response.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }
}
