/**
 * How the control plane reaches a Kubernetes API as a client (the Kubernetes scaler, delegated
 * authentication, the APIService's caBundle): the kubeconfig PORTOLAN_KUBECONFIG names, else the
 * one kubectl would use (KUBECONFIG, else ~/.kube/config), else the pod's service account. It is
 * read and checked once, at start, so that a kubeconfig that can never work is reported then,
 * saying what to fix, rather than as a failed request on every use. Also how the error body of a
 * failed request (a `Status`) is read, for the messages of every caller.
 */
import { createConfiguration, KubeConfig, ServerConfiguration, type Cluster, type Configuration, type Context, type Middleware } from '@kubernetes/client-node';

export interface KubernetesConnectionSettings {
  /** Kubeconfig file to use (PORTOLAN_KUBECONFIG). Absent: the file(s) in KUBECONFIG, else ~/.kube/config, else the pod's service account (in-cluster), as kubectl looks. */
  kubeconfigFile?: string;
  /** How long one API request may take before it is abandoned, so a hung API server cannot stall its caller. Default: 10 000 ms. */
  requestTimeoutMs?: number;
}

export interface KubernetesConnection {
  kubeConfig: KubeConfig;
  /** The kubeconfig's current context, with a cluster the kubeconfig defines. */
  contextName: string;
  context: Context;
  cluster: Cluster;
  /** Whether the credentials are the pod's service account, found because no kubeconfig was. */
  inCluster: boolean;
  /** Which kubeconfig was read (`kubeconfig /path`, KUBECONFIG, ~/.kube/config or the service account), for messages. */
  source: string;
  /** For the generated API classes (`new CoreV1Api(configuration)`); every request it makes has a deadline of `requestTimeoutMs`. */
  configuration: Configuration;
  requestTimeoutMs: number;
}

/** The kubeconfig cannot be read or cannot be used; the message says what to fix. */
export class KubernetesConnectionError extends Error {
  readonly code = 'PORTOLAN_KUBERNETES_CONNECTION';
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** The context loadFromDefault() gives the pod's service account. */
const IN_CLUSTER_CONTEXT = 'inClusterContext';

/** Reads the kubeconfig now; throws KubernetesConnectionError when there is none or it cannot be used. Sends no request. */
export function connectToKubernetes(settings: KubernetesConnectionSettings = {}): KubernetesConnection {
  const kubeConfig = new KubeConfig();
  try {
    if (settings.kubeconfigFile) kubeConfig.loadFromFile(settings.kubeconfigFile);
    else kubeConfig.loadFromDefault();
  } catch (error) {
    throw new KubernetesConnectionError(
      settings.kubeconfigFile
        ? `cannot read PORTOLAN_KUBECONFIG ${settings.kubeconfigFile}: ${(error as Error).message}; correct the file, or point PORTOLAN_KUBECONFIG at another kubeconfig`
        : `cannot read ${describeDefaultSource(kubeConfig)}: ${(error as Error).message}; correct it, or set PORTOLAN_KUBECONFIG to another kubeconfig file`,
    );
  }
  const source = settings.kubeconfigFile ? `kubeconfig ${settings.kubeconfigFile}` : describeDefaultSource(kubeConfig);

  const contextName = kubeConfig.getCurrentContext();
  if (!contextName) throw new KubernetesConnectionError(`${source} sets no current-context: set current-context to a context whose cluster is defined`);
  const context = kubeConfig.getContextObject(contextName);
  if (!context) throw new KubernetesConnectionError(`${source} sets current-context "${contextName}" but defines no context of that name: set current-context to a context whose cluster is defined`);
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) {
    throw new KubernetesConnectionError(`context "${contextName}" in ${source} names cluster "${context.cluster}", which it does not define: define that cluster, or set current-context to a context whose cluster is defined`);
  }
  // loadFromDefault() falls back to this made-up config when it finds nothing; it would only ever fail to connect.
  if (!settings.kubeconfigFile && contextName === 'loaded-context' && cluster.server === 'http://localhost:8080') {
    throw new KubernetesConnectionError(
      'no kubeconfig found: KUBECONFIG is unset, ~/.kube/config does not exist, and this is not a pod with a service account token; set PORTOLAN_KUBECONFIG (or KUBECONFIG) to a kubeconfig file',
    );
  }
  // @kubernetes/client-node 1.x refuses plain-http clusters unless TLS verification is "skipped"; say so now rather than on every request.
  if (cluster.server.startsWith('http:') && !cluster.skipTLSVerify) {
    throw new KubernetesConnectionError(
      `cluster "${cluster.name}" in ${source} is served over plain http (${cluster.server}); the Kubernetes client only talks to an http server when the cluster sets insecure-skip-tls-verify: true. Use the https URL of the API server, or set that field`,
    );
  }

  const requestTimeoutMs = settings.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  // Every request gets its own deadline: the client hands node-fetch no timeout, so a hung API server would hold a call forever.
  const deadline: Middleware = {
    pre: async (request) => {
      request.setSignal(AbortSignal.timeout(requestTimeoutMs));
      return request;
    },
    post: async (response) => response,
  };
  // What KubeConfig.makeApiClient builds, plus the deadline middleware it has no way to take.
  const configuration = createConfiguration({ baseServer: new ServerConfiguration(cluster.server, {}), authMethods: { default: kubeConfig }, promiseMiddleware: [deadline] });
  return { kubeConfig, contextName, context, cluster, inCluster: contextName === IN_CLUSTER_CONTEXT, source, configuration, requestTimeoutMs };
}

/** The parts of a Kubernetes `Status`, the error body of every API request, that messages quote. */
export interface KubernetesStatus {
  /** What the API server said, e.g. `User "system:serviceaccount:portolan:cp" cannot patch resource "deployments/scale" …`. */
  message?: string;
  /** `Forbidden`, `NotFound`, `Conflict`… */
  reason?: string;
}

/**
 * The Status in an error body, or undefined when the body is not one (a proxy's HTML page, empty).
 * ApiException carries the body as text (the client reads it with getBodyAsAny), or parsed;
 * fields of the wrong type are left out.
 */
export function parseKubernetesStatus(body: unknown): KubernetesStatus | undefined {
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  if (!parsed || typeof parsed !== 'object') return undefined;
  const { message, reason } = parsed as Record<string, unknown>;
  return {
    ...(typeof message === 'string' ? { message } : {}),
    ...(typeof reason === 'string' ? { reason } : {}),
  };
}

/** Which kubeconfig loadFromDefault() read (or failed to), in the order it looks. */
function describeDefaultSource(kubeConfig: KubeConfig): string {
  if (kubeConfig.getCurrentContext() === IN_CLUSTER_CONTEXT) return "the pod's service account (in-cluster config)";
  if (process.env.KUBECONFIG) return `kubeconfig from KUBECONFIG (${process.env.KUBECONFIG})`;
  return 'kubeconfig ~/.kube/config';
}
