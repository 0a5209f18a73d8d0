/**
 * Scales gateways that run as a Kubernetes Deployment or StatefulSet through the workload's
 * `scale` subresource, as the HorizontalPodAutoscaler does: it reads `spec.replicas` of the
 * autoscaling/v1 Scale and patches it. The patch is the request `kubectl scale --replicas=N`
 * sends (a JSON merge patch `{"spec":{"replicas":N}}`), so the RBAC that lets an operator run
 * `kubectl scale` is the RBAC this needs: get and patch on `deployments/scale` or
 * `statefulsets/scale` in API group apps.
 */
import { existsSync, readFileSync } from 'node:fs';
import { ApiException, AppsV1Api, PatchStrategy, setHeaderOptions, type V1Scale } from '@kubernetes/client-node';
import { connectToKubernetes, parseKubernetesStatus, type KubernetesConnectionSettings } from '../../kubernetes-api/kubernetes-connection';
import { ScalerError, type ScaleResult, type ScaleTarget, type Scaler } from './scaler';

/** Where Kubernetes mounts the namespace of a pod's service account. */
const POD_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
/** A Scale's replicas are an int32 on the API server. */
const MAX_REPLICAS = 2 ** 31 - 1;

type WorkloadKind = NonNullable<ScaleTarget['workload']>['kind'];

/** The workload one call acts on, with everything its messages name. */
interface ResolvedWorkload {
  kind: WorkloadKind;
  name: string;
  namespace: string;
  /** `Deployment portolan/edge-zone-a`. */
  label: string;
  /** `deployments/scale`: the resource an RBAC rule must grant. */
  scaleResource: string;
  /** `deployments.apps/scale`: the same, as `kubectl create role --resource` spells it. */
  kubectlResource: string;
  policy: string;
  /** Where the namespace came from when the policy names none; absent when it does. */
  namespaceOrigin?: string;
}

export class KubernetesScaler implements Scaler {
  readonly type = 'Kubernetes' as const;

  private constructor(
    private readonly api: AppsV1Api,
    /** The API server's URL, as the kubeconfig names it. */
    readonly server: string,
    /** Namespace of workloads whose policy names none. */
    readonly defaultNamespace: string,
    /** Why `defaultNamespace` is what it is, for messages. */
    private readonly defaultNamespaceOrigin: string,
    /** Which kubeconfig was read (a file, KUBECONFIG, or the in-cluster service account), for messages. */
    private readonly configSource: string,
    private readonly kubeconfigUser: string | undefined,
    private readonly requestTimeoutMs: number,
  ) {}

  /**
   * Reads the kubeconfig now; throws KubernetesConnectionError when there is none or it cannot be
   * used. Not a ScalerError: that is what current() and scale() throw for one policy, and the
   * autoscaler turns it into that policy's condition; this failure leaves the whole scaler unavailable.
   */
  static fromSettings(settings: KubernetesConnectionSettings = {}): KubernetesScaler {
    const { kubeConfig, contextName, context, cluster, inCluster, source, configuration, requestTimeoutMs } = connectToKubernetes(settings);

    let defaultNamespace: string;
    let defaultNamespaceOrigin: string;
    const contextNamespace = context.namespace?.trim();
    if (contextNamespace) {
      defaultNamespace = contextNamespace;
      defaultNamespaceOrigin = inCluster ? "the pod's namespace" : `the namespace of kubeconfig context "${contextName}"`;
    } else if (existsSync(POD_NAMESPACE_FILE)) {
      // Running in a pod with an explicit kubeconfig: the namespace the control plane runs in, as the AutoscalePolicy schema promises.
      defaultNamespace = readFileSync(POD_NAMESPACE_FILE, 'utf8').trim();
      defaultNamespaceOrigin = `the pod's namespace (${POD_NAMESPACE_FILE})`;
    } else {
      defaultNamespace = 'default';
      defaultNamespaceOrigin = `Kubernetes' default, as kubeconfig context "${contextName}" sets no namespace`;
    }

    return new KubernetesScaler(new AppsV1Api(configuration), cluster.server, defaultNamespace, defaultNamespaceOrigin, source, kubeConfig.getCurrentUser()?.name, requestTimeoutMs);
  }

  /** spec.replicas of the workload's Scale: the count asked for, which is what an HPA calls currentReplicas. */
  async current(target: ScaleTarget): Promise<number> {
    const workload = this.resolve(target);
    const scale = await this.call(workload, 'get', () =>
      workload.kind === 'Deployment'
        ? this.api.readNamespacedDeploymentScale({ name: workload.name, namespace: workload.namespace })
        : this.api.readNamespacedStatefulSetScale({ name: workload.name, namespace: workload.namespace }),
    );
    return specReplicas(scale);
  }

  async scale(target: ScaleTarget, replicas: number): Promise<ScaleResult> {
    const workload = this.resolve(target);
    if (!Number.isInteger(replicas) || replicas < 0 || replicas > MAX_REPLICAS) {
      throw new ScalerError(`cannot scale ${workload.label} (AutoscalePolicy ${workload.policy}) to ${replicas} replicas: the count must be a whole number from 0 to ${MAX_REPLICAS}`);
    }
    // Read first only to say what changed; the patch below sets the count whatever it is by then, as `kubectl scale` does.
    const before = await this.current(target);
    if (before === replicas) return { replicas, message: `${workload.label} already has ${replicas} replicas` };
    const body = { spec: { replicas } };
    // The generated client would pick application/json-patch+json, which wants an array of operations.
    const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const scale = await this.call(workload, 'patch', () =>
      workload.kind === 'Deployment'
        ? this.api.patchNamespacedDeploymentScale({ name: workload.name, namespace: workload.namespace, body }, mergePatch)
        : this.api.patchNamespacedStatefulSetScale({ name: workload.name, namespace: workload.namespace, body }, mergePatch),
    );
    const now = specReplicas(scale);
    return { replicas: now, message: `${workload.label} scaled from ${before} to ${now} replicas` };
  }

  /** Holds no connections between calls (the client makes a new agent per request), so there is nothing to release. */
  async close(): Promise<void> {}

  private resolve(target: ScaleTarget): ResolvedWorkload {
    if (!target.workload) {
      throw new ScalerError(`AutoscalePolicy ${target.policy} uses the Kubernetes scaler but has no spec.scaler.kubernetes: name the Deployment or StatefulSet whose replicas it sets`);
    }
    const { kind, name } = target.workload;
    const namespace = target.workload.namespace ?? this.defaultNamespace;
    const resource = kind === 'Deployment' ? 'deployments' : 'statefulsets';
    return {
      kind,
      name,
      namespace,
      label: `${kind} ${namespace}/${name}`,
      scaleResource: `${resource}/scale`,
      kubectlResource: `${resource}.apps/scale`,
      policy: target.policy,
      ...(target.workload.namespace ? {} : { namespaceOrigin: this.defaultNamespaceOrigin }),
    };
  }

  /** Runs one API request and turns its failure into a ScalerError saying what the operator must fix. */
  private async call<T>(workload: ResolvedWorkload, verb: 'get' | 'patch', request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw this.explain(error, workload, verb);
    }
  }

  private explain(error: unknown, workload: ResolvedWorkload, verb: 'get' | 'patch'): ScalerError {
    const doing = verb === 'get' ? `reading the scale of ${workload.label}` : `scaling ${workload.label}`;
    const forPolicy = `for AutoscalePolicy ${workload.policy}`;
    const server = `Kubernetes API server ${this.server} (${this.configSource})`;

    if (error instanceof ApiException) {
      const status = parseKubernetesStatus(error.body);
      const said = status?.message ? ` The API server said: ${status.message}` : '';
      switch (error.code) {
        case 404: {
          const namespaceNote = workload.namespaceOrigin ? `; the namespace is ${workload.namespaceOrigin}, as spec.scaler.kubernetes.namespace is unset` : '';
          return new ScalerError(
            `${workload.label} not found (spec.scaler.kubernetes of AutoscalePolicy ${workload.policy}) on ${server}${namespaceNote}: correct the kind, name or namespace, or create the workload`,
          );
        }
        case 403:
          return new ScalerError(this.forbiddenMessage(workload, verb, status?.message, server, doing));
        case 401:
          return new ScalerError(
            `${server} rejected the credentials of kubeconfig user "${this.kubeconfigUser ?? 'unknown'}" (401 Unauthorized) while ${doing} ${forPolicy}: renew the token or certificate in the kubeconfig.${said}`,
          );
        default:
          return new ScalerError(`${server} answered HTTP ${error.code}${status?.reason ? ` ${status.reason}` : ''} while ${doing} ${forPolicy}.${said || ` Body: ${String(error.body).slice(0, 300)}`}`);
      }
    }

    const failure = error as { name?: string; type?: string; code?: string; message?: string };
    if (failure.name === 'AbortError' || failure.type === 'aborted') {
      return new ScalerError(`${server} did not answer within ${this.requestTimeoutMs / 1000} s while ${doing} ${forPolicy}; the request was abandoned. Check that the API server is healthy and reachable from the control plane`);
    }
    switch (failure.code) {
      case 'ECONNREFUSED':
        return new ScalerError(`${server} refused the connection (ECONNREFUSED) while ${doing} ${forPolicy}: check that the API server runs at that address, or correct the server URL in the kubeconfig`);
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return new ScalerError(`${server}: its host name does not resolve (${failure.code}) while ${doing} ${forPolicy}: correct the server URL in the kubeconfig, or the DNS of the control plane`);
      case 'ECONNRESET':
      case 'ETIMEDOUT':
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
        return new ScalerError(`${server} is unreachable (${failure.code}) while ${doing} ${forPolicy}: check the network between the control plane and the API server`);
    }
    if (failure.code && /CERT|SELF_SIGNED|TLS|SSL/.test(failure.code)) {
      return new ScalerError(
        `${server}: TLS verification failed (${failure.code}) while ${doing} ${forPolicy}: set the cluster's certificate-authority(-data) in the kubeconfig to the CA that signed the API server's certificate`,
      );
    }
    return new ScalerError(`${server}: ${doing} ${forPolicy} failed: ${failure.message ?? String(error)}`);
  }

  /**
   * A 403 means the identity the API server authenticated lacks an RBAC rule. Name that identity
   * (the API server's message carries it), the verb and resource refused, and the rule to add,
   * as kubectl commands an operator can paste.
   */
  private forbiddenMessage(workload: ResolvedWorkload, verb: 'get' | 'patch', apiMessage: string | undefined, server: string, doing: string): string {
    const subject = apiMessage?.match(/User "([^"]+)"/)?.[1];
    const who = subject ? `User "${subject}"` : `the identity of kubeconfig user "${this.kubeconfigUser ?? 'unknown'}"`;
    const rule = `apiGroups: ["apps"], resources: ["${workload.scaleResource}"], verbs: ["get", "patch"]`;
    if (subject === 'system:anonymous') {
      return (
        `${server} refused to let an anonymous request ${verb} ${workload.scaleResource} in API group apps in namespace ${workload.namespace} while ${doing} (AutoscalePolicy ${workload.policy}): ` +
        `the kubeconfig's credentials were not sent or not accepted; give kubeconfig user "${this.kubeconfigUser ?? 'unknown'}" a token or client certificate (an http:// server gets no token from kubectl), then grant it the RBAC rule ${rule}`
      );
    }
    const serviceAccount = subject?.match(/^system:serviceaccount:([^:]+):([^:]+)$/);
    const bindTo = serviceAccount ? `--serviceaccount=${serviceAccount[1]}:${serviceAccount[2]}` : subject ? `--user=${subject}` : '--user=<the user above>';
    return (
      `${server} forbids ${who} to ${verb} ${workload.scaleResource} in API group apps in namespace ${workload.namespace} while ${doing} (AutoscalePolicy ${workload.policy}). ` +
      `Missing RBAC rule: a Role in namespace ${workload.namespace} (or a ClusterRole) with ${rule}, bound to that identity; for example: ` +
      `kubectl create role portolan-autoscaler -n ${workload.namespace} --verb=get,patch --resource=${workload.kubectlResource} && ` +
      `kubectl create rolebinding portolan-autoscaler -n ${workload.namespace} --role=portolan-autoscaler ${bindTo}`
    );
  }
}

/** Scale.spec.replicas is `omitempty` in the API: a workload scaled to zero answers `spec: {}`. */
function specReplicas(scale: V1Scale): number {
  return scale.spec?.replicas ?? 0;
}
