/**
 * The Kubernetes API calls delegation makes, with the credentials the Kubernetes scaler uses
 * (PORTOLAN_KUBECONFIG, else KUBECONFIG or ~/.kube/config, else the pod's service account), and
 * the RBAC each needs, named in its errors so an operator knows which rule to add:
 *  - get configmaps/extension-apiserver-authentication in kube-system: the built-in Role
 *    `extension-apiserver-authentication-reader` there grants it;
 *  - create subjectaccessreviews (authorization.k8s.io): deploy/ grants only that, in the
 *    ClusterRole portolan-control-plane-subjectaccessreviews;
 *  - get and patch apiservices (apiregistration.k8s.io): a ClusterRole of Portolan's own.
 */
import { ApiException, ApiregistrationV1Api, AuthorizationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { connectToKubernetes, parseKubernetesStatus, type KubernetesConnectionSettings } from '../../kubernetes-api/kubernetes-connection';
import type { SubjectAccessReviewApi, SubjectAccessReviewSpec, SubjectAccessReviewStatus } from './subject-access-review';

/** The permission a call needs, for messages. */
export interface Permission {
  verb: string;
  resource: string;
  group: string;
  namespace?: string;
  name?: string;
}

export class KubernetesRequestError extends Error {
  readonly code = 'PORTOLAN_KUBERNETES_REQUEST';
  constructor(
    message: string,
    /** The HTTP status the API answered; absent when it did not answer. */
    readonly status?: number,
    /** The permission the call needed, when the API refused it (403). */
    readonly missingPermission?: Permission,
  ) {
    super(message);
  }
}

/** Delegation is asked for and no Kubernetes API can be configured: the control plane does not start. */
export class KubernetesConfigError extends Error {
  readonly code = 'PORTOLAN_KUBERNETES_CONFIG';
}

/** What an APIService says about how kube-apiserver reaches and trusts Portolan. */
export interface ApiServiceTrust {
  caBundle?: string;
  insecureSkipTLSVerify?: boolean;
  service?: { namespace: string; name: string };
}

export interface DelegationApi extends SubjectAccessReviewApi {
  /** The API server's URL and where the credentials came from, for messages. */
  readonly describe: string;
  readConfigMap(namespace: string, name: string): Promise<Record<string, string>>;
  readApiService(name: string): Promise<ApiServiceTrust>;
  /** A JSON merge patch of spec.caBundle (base64 of the PEM, as the API's []byte field is encoded). */
  patchApiServiceCaBundle(name: string, caBundle: string): Promise<void>;
}

function rbacRule(permission: Permission): string {
  const names = permission.name ? `, resourceNames: ["${permission.name}"]` : '';
  return `apiGroups: ["${permission.group}"], resources: ["${permission.resource}"]${names}, verbs: ["${permission.verb}"]${permission.namespace ? ` in namespace ${permission.namespace}` : ''}`;
}

export class KubernetesDelegationClient implements DelegationApi {
  private constructor(
    private readonly core: CoreV1Api,
    private readonly authorization: AuthorizationV1Api,
    private readonly registration: ApiregistrationV1Api,
    readonly describe: string,
    private readonly requestTimeoutMs: number,
  ) {}

  /** Reads the kubeconfig now; throws KubernetesConnectionError when there is none or it cannot be used (kubernetes-integration.ts says which feature needed it). */
  static connect(settings: KubernetesConnectionSettings = {}): KubernetesDelegationClient {
    const { cluster, source, configuration, requestTimeoutMs } = connectToKubernetes(settings);
    return new KubernetesDelegationClient(
      new CoreV1Api(configuration),
      new AuthorizationV1Api(configuration),
      new ApiregistrationV1Api(configuration),
      `Kubernetes API server ${cluster.server} (${source})`,
      requestTimeoutMs,
    );
  }

  async readConfigMap(namespace: string, name: string): Promise<Record<string, string>> {
    const permission = { verb: 'get', resource: 'configmaps', group: '', namespace, name };
    const configMap = await this.call(`reading ConfigMap ${namespace}/${name}`, permission, () => this.core.readNamespacedConfigMap({ namespace, name }));
    return configMap.data ?? {};
  }

  async createSubjectAccessReview(spec: SubjectAccessReviewSpec): Promise<SubjectAccessReviewStatus> {
    const permission = { verb: 'create', resource: 'subjectaccessreviews', group: 'authorization.k8s.io' };
    const review = await this.call(`creating a SubjectAccessReview for User "${spec.user}"`, permission, () =>
      this.authorization.createSubjectAccessReview({ body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec } }),
    );
    const status = review.status;
    if (!status || typeof status.allowed !== 'boolean') throw new KubernetesRequestError(`${this.describe} answered a SubjectAccessReview without status.allowed`);
    return { allowed: status.allowed, ...(status.denied ? { denied: true } : {}), ...(status.reason ? { reason: status.reason } : {}), ...(status.evaluationError ? { evaluationError: status.evaluationError } : {}) };
  }

  async readApiService(name: string): Promise<ApiServiceTrust> {
    const permission = { verb: 'get', resource: 'apiservices', group: 'apiregistration.k8s.io', name };
    const apiService = await this.call(`reading APIService ${name}`, permission, () => this.registration.readAPIService({ name }));
    const spec = apiService.spec;
    return {
      ...(spec?.caBundle ? { caBundle: spec.caBundle } : {}),
      ...(spec?.insecureSkipTLSVerify ? { insecureSkipTLSVerify: true } : {}),
      ...(spec?.service?.name && spec.service.namespace ? { service: { namespace: spec.service.namespace, name: spec.service.name } } : {}),
    };
  }

  async patchApiServiceCaBundle(name: string, caBundle: string): Promise<void> {
    const permission = { verb: 'patch', resource: 'apiservices', group: 'apiregistration.k8s.io', name };
    // The generated client would pick application/json-patch+json, which wants a list of operations.
    const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    await this.call(`patching spec.caBundle of APIService ${name}`, permission, () => this.registration.patchAPIService({ name, body: { spec: { caBundle } } }, mergePatch));
  }

  private async call<T>(doing: string, permission: Permission, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw this.explain(error, doing, permission);
    }
  }

  private explain(error: unknown, doing: string, permission: Permission): KubernetesRequestError {
    if (error instanceof ApiException) {
      const said = parseKubernetesStatus(error.body)?.message;
      const answer = said ? ` The API server said: ${said}` : '';
      if (error.code === 403) {
        return new KubernetesRequestError(
          `${this.describe} refused ${doing} (403 Forbidden): the control plane's identity needs the RBAC rule ${rbacRule(permission)}.${answer}`,
          403,
          permission,
        );
      }
      if (error.code === 401) {
        return new KubernetesRequestError(`${this.describe} rejected the control plane's credentials (401 Unauthorized) while ${doing}: renew the token or certificate of the kubeconfig.${answer}`, 401);
      }
      return new KubernetesRequestError(`${this.describe} answered HTTP ${error.code} while ${doing}.${answer || ` Body: ${String(error.body).slice(0, 300)}`}`, error.code);
    }
    const failure = error as { name?: string; type?: string; code?: string; message?: string };
    if (failure.name === 'AbortError' || failure.type === 'aborted') {
      return new KubernetesRequestError(`${this.describe} did not answer within ${this.requestTimeoutMs / 1000} s while ${doing}`);
    }
    return new KubernetesRequestError(`${this.describe} could not be reached while ${doing}: ${failure.code ? `${failure.code} ` : ''}${failure.message ?? String(error)}`);
  }
}
