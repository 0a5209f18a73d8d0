/**
 * The Kubernetes manifests, rendered by the real `kubectl kustomize` and checked offline: every
 * object against the schema of its kind, then what this deployment promises (hardened pods, HA,
 * least-privilege RBAC, an APIService that reaches the control plane, scrape and trace configs
 * that real tools accept, mesh objects that point at what exists).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { API_GROUP, API_VERSION, KINDS, parseDuration, validateResource } from '@portolan/api';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IPolicyRule } from 'kubernetes-models/rbac.authorization.k8s.io/v1/PolicyRule';
import type { IRoleRef } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleRef';
import type { ISubject } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Subject';
import type { IAPIService } from 'kubernetes-models/apiregistration.k8s.io/v1/APIService';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IContainerPort } from 'kubernetes-models/v1/ContainerPort';
import type { IService } from 'kubernetes-models/v1/Service';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { CLUSTER_SCOPED_KINDS, containersOf, fieldsNotInTheirKind, podTemplates, selects, validateAgainstKubernetesSchema, type PodTemplateOf } from './kubernetes.js';
import { DEPLOY_DIR, meshDirOf, nameOf, overlayDirs, render, type KubeObject } from './render.js';
import { controlPlaneVariables, gatewayVariables } from './settings.js';

const NAMESPACE = 'portolan-system';
const CONTROL_PLANE = 'portolan-control-plane';
const GATEWAY = 'portolan-gateway';
const APISERVICE_NAME = `${API_VERSION}.${API_GROUP}`;
const NAME_LABEL = 'app.kubernetes.io/name';
const ZONE_LABEL = 'portolan.dev/zone';
const POOL_LABEL = 'portolan.dev/pool';
/**
 * Kinds whose objects act beyond their namespace: a Zone in any namespace drains that zone mesh-wide,
 * a FailoverPolicy targeting Mesh applies to every service, an AutoscalePolicy scales whatever
 * workload it names. Written by portolan-mesh-operator only, never through edit/admin.
 */
const MESH_WIDE_KINDS = ['zones', 'autoscalepolicies', 'failoverpolicies'];

const overlays = overlayDirs();
const meshDirs = overlays.flatMap((overlay) => meshDirOf(overlay) ?? []);
const renderedDirs = ['base', ...overlays, ...meshDirs];

// All renderings start at once; each test awaits the ones it reads, so a failing render fails its own test.
const renderings = new Map(renderedDirs.map((dir) => [dir, render(dir)]));
for (const pending of renderings.values()) pending.catch(() => undefined);
const objectsOf = async (dir: string): Promise<KubeObject[]> => (await renderings.get(dir)!).objects;

// ---- small readers of the rendered objects -------------------------------------------------------

const ofKind = <T>(objects: KubeObject[], kind: string) => objects.filter((object) => object.kind === kind) as unknown as (KubeObject & T)[];
const namespaceOf = (object: KubeObject) => object.metadata.namespace ?? '';
const envValue = (container: IContainer, name: string) => container.env?.find((variable) => variable.name === name)?.value;
const templatesNamed = (objects: KubeObject[], name: string) => podTemplates(objects).filter(({ template }) => template.metadata?.labels?.[NAME_LABEL] === name);
const gatewayDeployments = (objects: KubeObject[]) =>
  ofKind<IDeployment>(objects, 'Deployment').filter((deployment) => deployment.spec?.template.metadata?.labels?.[NAME_LABEL] === GATEWAY);
const controlPlaneContainer = (objects: KubeObject[]) => {
  const [controlPlane] = templatesNamed(objects, CONTROL_PLANE);
  return controlPlane.template.spec!.containers[0];
};

/** The pod templates a Service (or a PodDisruptionBudget) selects, in its namespace. */
function selectedTemplates(objects: KubeObject[], namespace: string, selector: Record<string, string> | undefined): PodTemplateOf[] {
  return podTemplates(objects).filter(({ workload, template }) => namespaceOf(workload) === namespace && selects(selector, template.metadata?.labels));
}

/** Whether one of the containers of these pods listens on the port (a number, or a port name). */
function podsListenOn(templates: PodTemplateOf[], port: number | string): boolean {
  return templates.some(({ template }) => containersOf(template).some((container) => container.ports?.some((p) => p.containerPort === port || p.name === port)));
}

/**
 * Resolves an in-cluster address as cluster DNS would: `service`, `service.namespace(.svc…)`, or a
 * StatefulSet pod behind a headless Service (`pod-0.service`). Answers what is wrong, or undefined.
 */
function unreachable(objects: KubeObject[], fromNamespace: string, host: string, port: number): string | undefined {
  const labels = host.replace(/\.svc(\.cluster\.local)?$/, '').split('.');
  const services = ofKind<IService>(objects, 'Service');
  const service = (name: string, namespace: string) => services.find((s) => s.metadata.name === name && namespaceOf(s) === namespace);
  let target = labels.length <= 2 ? service(labels[0], labels[1] ?? fromNamespace) : undefined;
  if (!target && labels.length >= 2) {
    const headless = service(labels[1], labels[2] ?? fromNamespace);
    const statefulSet = ofKind<IStatefulSet>(objects, 'StatefulSet').find((s) => s.spec?.serviceName === headless?.metadata.name && namespaceOf(s) === namespaceOf(headless!));
    const ordinal = statefulSet && labels[0].startsWith(`${statefulSet.metadata.name}-`) ? Number(labels[0].slice(statefulSet.metadata.name.length + 1)) : NaN;
    if (headless?.spec?.clusterIP === 'None' && ordinal >= 0 && ordinal < (statefulSet!.spec!.replicas ?? 1)) target = headless;
  }
  if (!target) return `${host}: no Service (or StatefulSet pod behind a headless Service) of that name`;
  if (!target.spec?.ports?.some((p) => p.port === port)) return `${host}:${port}: Service ${target.metadata.name} has no port ${port}`;
  return undefined;
}

/** host and port of a URL or host:port in a setting; undefined for anything else (paths, lists, IPs). */
function addressIn(value: string): { host: string; port: number } | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//.test(value)) {
    const url = new URL(value);
    return { host: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) };
  }
  const hostPort = /^([a-z0-9.-]+):(\d+)$/.exec(value);
  return hostPort && !/^[0-9.]+$/.test(hostPort[1]) ? { host: hostPort[1], port: Number(hostPort[2]) } : undefined;
}

/** The ConfigMap a workload mounts at the directory of the file its `--config.file=`-style argument names, and that file's key. */
function mountedConfig(objects: KubeObject[], workloadName: string, argument: RegExp): { configMap: IConfigMap; key: string } {
  const [{ workload, template }] = podTemplates(objects).filter(({ workload }) => workload.metadata.name === workloadName);
  const container = template.spec!.containers[0];
  const file = container.args!.map((arg) => argument.exec(arg)?.[1]).find(Boolean)!;
  const directory = file.slice(0, file.lastIndexOf('/'));
  const mount = container.volumeMounts!.find((m) => m.mountPath === directory)!;
  const volume = template.spec!.volumes!.find((v) => v.name === mount.name)!;
  const configMap = ofKind<IConfigMap>(objects, 'ConfigMap').find((c) => c.metadata.name === volume.configMap?.name && namespaceOf(c) === namespaceOf(workload))!;
  return { configMap, key: file.slice(directory.length + 1) };
}

/** Whether a NetworkPolicy's pod selector picks pods with these labels: `{}` picks every pod; deploy/ uses matchLabels only. */
type LabelSelector = NonNullable<INetworkPolicy['spec']>['podSelector'];
function policySelects(selector: LabelSelector | undefined, labels: Record<string, string> | undefined): boolean {
  if (selector?.matchExpressions?.length) throw new Error(`matchExpressions in a NetworkPolicy selector: the tests read matchLabels only (${JSON.stringify(selector)})`);
  return Object.entries(selector?.matchLabels ?? {}).every(([key, value]) => labels?.[key] === value);
}

/**
 * Who may open connections to one port of a workload's pods under the render's NetworkPolicies, as
 * Kubernetes decides it: pods that no Ingress policy selects accept everyone; selected pods accept
 * the union of the peers of every rule (of every policy selecting them) whose ports include the
 * port. Peers are named by the NAME_LABEL of the pods of the render a podSelector picks in the
 * policy's namespace; `anyone` for a rule without `from`; namespace selectors and IP blocks by what
 * they are, and a podSelector that picks no pod of the render as such.
 */
function ingressPeers(objects: KubeObject[], { workload, template }: PodTemplateOf, port: IContainerPort): string[] {
  const namespace = namespaceOf(workload);
  const protocol = port.protocol ?? 'TCP';
  const policies = ofKind<INetworkPolicy>(objects, 'NetworkPolicy').filter(
    (policy) => namespaceOf(policy) === namespace && (policy.spec?.policyTypes ?? ['Ingress']).includes('Ingress') && policySelects(policy.spec?.podSelector, template.metadata?.labels),
  );
  if (policies.length === 0) return ['anyone'];
  const peers = policies.flatMap((policy) =>
    (policy.spec?.ingress ?? [])
      .filter(
        (rule) =>
          !rule.ports?.length ||
          rule.ports.some(
            (p) =>
              (p.protocol ?? 'TCP') === protocol &&
              (p.port === undefined || p.port === port.containerPort || p.port === port.name || (typeof p.port === 'number' && p.endPort !== undefined && port.containerPort >= p.port && port.containerPort <= p.endPort)),
          ),
      )
      .flatMap((rule) =>
        !rule.from?.length
          ? ['anyone']
          : rule.from.flatMap((peer) => {
              if (peer.ipBlock) return [`ipBlock ${peer.ipBlock.cidr}`];
              if (peer.namespaceSelector) return [`pods of namespaces ${JSON.stringify(peer.namespaceSelector)}`];
              const picked = podTemplates(objects).filter((other) => namespaceOf(other.workload) === namespace && policySelects(peer.podSelector, other.template.metadata?.labels));
              return picked.length ? picked.map((other) => other.template.metadata?.labels?.[NAME_LABEL] ?? nameOf(other.workload)) : [`no pod of the render (${nameOf(policy)}: ${JSON.stringify(peer.podSelector)})`];
            }),
      ),
  );
  return [...new Set(peers)].sort();
}

/** A rule's grants as `group/resource` → verbs (resourceNames kept apart, because they narrow a grant). */
function grants(rules: IPolicyRule[] | undefined): Map<string, Set<string>> {
  const granted = new Map<string, Set<string>>();
  for (const rule of rules ?? []) {
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        const key = `${group}/${resource}${rule.resourceNames ? `[${[...rule.resourceNames].sort().join(',')}]` : ''}`;
        granted.set(key, new Set([...(granted.get(key) ?? []), ...rule.verbs]));
      }
    }
  }
  return granted;
}

const READ_VERBS = new Set(['get', 'list', 'watch']);
const asSorted = (map: Map<string, Set<string>>) => Object.fromEntries([...map].map(([key, verbs]) => [key, [...verbs].sort()]).sort());

/**
 * Grants that let someone write (scale, patch) a Deployment of the render that is not a gateway. A
 * rule without resourceNames covers every Deployment of its namespace (of every one, in a ClusterRole).
 */
function nonGatewayScalers(objects: KubeObject[]): string[] {
  const gatewayNames = new Set(gatewayDeployments(objects).map((d) => `${namespaceOf(d)}/${d.metadata.name}`));
  const others = ofKind<IDeployment>(objects, 'Deployment').filter((d) => !gatewayNames.has(`${namespaceOf(d)}/${d.metadata.name}`));
  expect(others.length, 'Deployments that are not gateways').toBeGreaterThan(0);
  const roles = [...ofKind<KubeObject & { rules?: IPolicyRule[] }>(objects, 'Role'), ...ofKind<KubeObject & { rules?: IPolicyRule[] }>(objects, 'ClusterRole')];
  return roles.flatMap((role) =>
    (role.rules ?? [])
      .filter((rule) => rule.apiGroups?.includes('apps') && rule.resources?.some((r) => r === 'deployments/scale' || r === 'deployments'))
      .filter((rule) => rule.verbs.some((verb) => !READ_VERBS.has(verb)))
      .flatMap((rule) =>
        others
          .filter((d) => (role.kind === 'ClusterRole' || namespaceOf(d) === namespaceOf(role)) && (!rule.resourceNames || rule.resourceNames.includes(d.metadata.name)))
          .map((d) => `${nameOf(role)} may ${rule.verbs.join(',')} ${rule.resources!.join(',')} of ${nameOf(d)}`),
      ),
  );
}

type Binding = KubeObject & { roleRef: IRoleRef; subjects?: ISubject[] };

// ---- rendering and schemas ------------------------------------------------------------------------

describe('kubectl kustomize', () => {
  it('finds the overlays by listing deploy/overlays', () => {
    expect(overlays.length).toBeGreaterThan(0);
  });

  it.each(renderedDirs)('renders %s', async (dir) => {
    expect((await objectsOf(dir)).length).toBeGreaterThan(0);
  });

  it('renders no field that the kind of its object does not define, in any rendering', async () => {
    // The base's objects are in every overlay too: each distinct object once.
    const rendered = new Map((await Promise.all(renderedDirs.map(objectsOf))).flat().map((object) => [JSON.stringify(object), object]));
    const kubernetesObjects: KubeObject[] = [];
    for (const object of rendered.values()) {
      // Mesh objects' unknown fields are validateResource's; unknown kinds fail the schema test.
      if (!object.apiVersion.startsWith(`${API_GROUP}/`) && (await validateAgainstKubernetesSchema(object)).known) kubernetesObjects.push(object);
    }
    expect(fieldsNotInTheirKind(kubernetesObjects)).toEqual([]);
  });
});

describe.each(renderedDirs)('every object of %s', (dir) => {
  let objects: KubeObject[];
  beforeAll(async () => {
    objects = await objectsOf(dir);
  });

  it('is valid against the schema of its apiVersion and kind', async () => {
    const failures: string[] = [];
    for (const object of objects) {
      if (object.apiVersion?.startsWith(`${API_GROUP}/`)) {
        // Mesh objects: the control plane's own validation, as `kubectl apply` will meet it (fieldValidation=Strict).
        const { causes, unknownFields } = validateResource(object);
        failures.push(...causes.map((cause) => `${nameOf(object)}: ${cause.field}: ${cause.message}`));
        failures.push(...unknownFields.map((field) => `${nameOf(object)}: unknown field ${field}`));
        continue;
      }
      const verdict = await validateAgainstKubernetesSchema(object);
      if (!verdict.known) failures.push(`${nameOf(object)}: no schema for apiVersion ${object.apiVersion} kind ${object.kind}`);
      else failures.push(...verdict.errors.map((error) => `${nameOf(object)}: ${error}`));
    }
    expect(failures).toEqual([]);
  });

  it('names its namespace when it has one: portolan-system, and kube-system only for what must live there', () => {
    const misplaced = objects
      .filter((object) => !CLUSTER_SCOPED_KINDS.has(object.kind))
      .filter((object) => namespaceOf(object) !== NAMESPACE && !(object.kind === 'RoleBinding' && namespaceOf(object) === 'kube-system'))
      .map(nameOf);
    expect(misplaced).toEqual([]);
    expect(objects.filter((object) => CLUSTER_SCOPED_KINDS.has(object.kind) && object.metadata.namespace).map(nameOf)).toEqual([]);
  });

  it('holds no Secret: the operator creates them (deploy/README.md)', () => {
    expect(objects.filter((object) => object.kind === 'Secret').map(nameOf)).toEqual([]);
  });
});

describe('base', () => {
  it('lets the autoscaler scale no Deployment until an overlay names its gateways (a Role rule without resourceNames would cover them all)', async () => {
    expect(nonGatewayScalers(await objectsOf('base'))).toEqual([]);
  });
});

// ---- the overlays: what the cluster runs --------------------------------------------------------------

describe.each(overlays)('%s', (overlay) => {
  let objects: KubeObject[];
  beforeAll(async () => {
    objects = await objectsOf(overlay);
  });

  it('leaves mesh objects to its mesh/ kustomization (their kinds exist only once the APIService is available)', () => {
    expect(objects.filter((object) => object.apiVersion.startsWith(`${API_GROUP}/`)).map(nameOf)).toEqual([]);
  });

  describe('pods', () => {
    it('give every container CPU and memory requests and a memory limit', () => {
      const missing = podTemplates(objects).flatMap(({ workload, template }) =>
        containersOf(template)
          .filter(({ resources }) => !resources?.requests?.cpu || !resources.requests.memory || !resources.limits?.memory)
          .map((container) => `${nameOf(workload)} ${container.name}`),
      );
      expect(missing).toEqual([]);
    });

    it('give every long-running container a readiness and a liveness probe', () => {
      const missing = podTemplates(objects)
        .filter(({ workload }) => workload.kind !== 'Job' && workload.kind !== 'CronJob')
        .flatMap(({ workload, template }) => (template.spec?.containers ?? []).filter((c) => !c.readinessProbe || !c.livenessProbe).map((c) => `${nameOf(workload)} ${c.name}`));
      expect(missing).toEqual([]);
    });

    it('run every container as a numeric non-root user, without privilege escalation or capabilities, read-only, with the RuntimeDefault seccomp profile', () => {
      const violations = podTemplates(objects).flatMap(({ workload, template }) =>
        containersOf(template).flatMap((container) => {
          const pod = template.spec?.securityContext;
          const own = container.securityContext;
          const problems = [
            (own?.runAsNonRoot ?? pod?.runAsNonRoot) !== true && 'runAsNonRoot is not true',
            // Kubernetes can only check runAsNonRoot against a numeric user: set it rather than trust the image.
            !((own?.runAsUser ?? pod?.runAsUser ?? 0) > 0) && 'no non-root runAsUser',
            own?.allowPrivilegeEscalation !== false && 'allowPrivilegeEscalation is not false',
            own?.readOnlyRootFilesystem !== true && 'the root filesystem is writable',
            !own?.capabilities?.drop?.includes('ALL') && 'capabilities are not all dropped',
            own?.capabilities?.add?.length && `capabilities added: ${own.capabilities.add.join(', ')}`,
            (own?.seccompProfile?.type ?? pod?.seccompProfile?.type) !== 'RuntimeDefault' && 'no RuntimeDefault seccomp profile',
          ];
          return problems.filter(Boolean).map((problem) => `${nameOf(workload)} ${container.name}: ${problem}`);
        }),
      );
      expect(violations).toEqual([]);
    });

    it('spread hard (DoNotSchedule) only over nodes the pods tolerate (nodeTaintsPolicy: Honor), so a cordoned node never counts as an empty one', () => {
      const ignoring = podTemplates(objects).flatMap(({ workload, template }) =>
        (template.spec?.topologySpreadConstraints ?? [])
          .filter((constraint) => constraint.whenUnsatisfiable === 'DoNotSchedule' && constraint.nodeTaintsPolicy !== 'Honor')
          .map((constraint) => `${nameOf(workload)}: ${constraint.topologyKey}`),
      );
      expect(ignoring).toEqual([]);
    });

    it('pin every image to a version tag (never latest, never untagged)', () => {
      const unpinned = podTemplates(objects)
        .flatMap(({ template }) => containersOf(template).map((container) => container.image ?? ''))
        .filter((image) => {
          const [, tag] = /:([^/:@]+)$/.exec(image.split('@')[0]) ?? [];
          return !image.includes('@sha256:') && (!tag || tag === 'latest' || !/\d/.test(tag));
        });
      expect(unpinned).toEqual([]);
    });

    it('reach every in-cluster address they are given (env URLs and host:port) at a Service and port of the render', () => {
      const broken = podTemplates(objects).flatMap(({ workload, template }) =>
        containersOf(template).flatMap((container) =>
          (container.env ?? []).flatMap(({ name, value }) => {
            const address = value === undefined ? undefined : addressIn(value);
            const problem = address && unreachable(objects, namespaceOf(workload), address.host, address.port);
            return problem ? [`${nameOf(workload)} ${name}: ${problem}`] : [];
          }),
        ),
      );
      expect(broken).toEqual([]);
    });

    it('set only variables the control plane and the gateway read', () => {
      const known: Record<string, Set<string>> = { [CONTROL_PLANE]: controlPlaneVariables(), [GATEWAY]: new Set(gatewayVariables().keys()) };
      const unknown = [CONTROL_PLANE, GATEWAY].flatMap((name) =>
        templatesNamed(objects, name).flatMap(({ workload, template }) =>
          containersOf(template).flatMap((container) => (container.env ?? []).filter((v) => !known[name].has(v.name)).map((v) => `${nameOf(workload)}: ${v.name}`)),
        ),
      );
      expect(unknown).toEqual([]);
    });

    it('take every Secret from one that deploy/README.md tells the operator to create', () => {
      const readme = readFileSync(join(DEPLOY_DIR, 'README.md'), 'utf8');
      const referenced = new Set(
        podTemplates(objects).flatMap(({ template }) => [
          ...containersOf(template).flatMap((c) => [...(c.env ?? []).map((v) => v.valueFrom?.secretKeyRef?.name), ...(c.envFrom ?? []).map((e) => e.secretRef?.name)]),
          ...(template.spec?.volumes ?? []).map((v) => v.secret?.secretName),
        ]),
      );
      const undocumented = [...referenced].filter((name): name is string => !!name).filter((name) => !new RegExp(`kubectl create secret \\w+ ${name}\\b`).test(readme));
      expect(undocumented).toEqual([]);
    });
  });

  describe('control plane', () => {
    it('runs 3 replicas with a PodDisruptionBudget that keeps 2', () => {
      const deployments = ofKind<IDeployment>(objects, 'Deployment').filter((d) => d.spec?.template.metadata?.labels?.[NAME_LABEL] === CONTROL_PLANE);
      expect(deployments.map((d) => d.spec?.replicas)).toEqual([3]);
      const [deployment] = deployments;
      const budgets = ofKind<IPodDisruptionBudget>(objects, 'PodDisruptionBudget').filter(
        (pdb) => namespaceOf(pdb) === namespaceOf(deployment) && selects(pdb.spec?.selector?.matchLabels, deployment.spec!.template.metadata?.labels),
      );
      expect(budgets.map((pdb) => pdb.spec?.minAvailable)).toEqual([2]);
      // A Consul outage makes every replica unready at once; the default policy would then block every node drain.
      expect(budgets.map((pdb) => pdb.spec?.unhealthyPodEvictionPolicy)).toEqual(['AlwaysAllow']);
    });

    it('keeps serving for a few seconds after it leaves the endpoints (a preStop sleep), within its grace period', () => {
      const [{ workload, template }] = templatesNamed(objects, CONTROL_PLANE);
      const sleep = controlPlaneContainer(objects).lifecycle?.preStop?.sleep?.seconds ?? 0;
      expect(sleep, `${nameOf(workload)}: preStop sleep`).toBeGreaterThanOrEqual(5);
      // The stop after the sleep: Consul calls (the leader lock's release, the session's destruction) give up after 5 s each.
      expect(template.spec?.terminationGracePeriodSeconds ?? 30, `${nameOf(workload)}: terminationGracePeriodSeconds`).toBeGreaterThanOrEqual(sleep + 2 * 5 + 5);
    });

    it('exposes its ops port through the headless Service only (per replica, for Prometheus), never a balanced one', () => {
      const [{ template }] = templatesNamed(objects, CONTROL_PLANE);
      const container = controlPlaneContainer(objects);
      const opsPort = Number(envValue(container, 'PORTOLAN_OPS_PORT'));
      const leadsToOps = (target: number | string) => container.ports!.some((p) => p.containerPort === opsPort && (p.containerPort === target || p.name === target));
      const balanced = ofKind<IService>(objects, 'Service')
        .filter((service) => service.spec?.clusterIP !== 'None' && selects(service.spec?.selector, template.metadata?.labels))
        .filter((service) => service.spec?.ports?.some((p) => leadsToOps(p.targetPort ?? p.port)))
        .map(nameOf);
      expect(balanced).toEqual([]);
    });

    it('is registered as the aggregated API by an APIService that reaches its API port through a Service of the render', () => {
      const apiServices = ofKind<IAPIService>(objects, 'APIService');
      expect(apiServices.map((a) => a.metadata.name)).toEqual([APISERVICE_NAME]);
      const [{ spec }] = apiServices;
      expect(spec).toMatchObject({ group: API_GROUP, version: API_VERSION });
      // The control plane patches its CA in at start; one in the manifest would be overwritten, and skipping verification is never right.
      expect(spec?.caBundle).toBeUndefined();
      expect(spec?.insecureSkipTLSVerify).not.toBe(true);
      const service = ofKind<IService>(objects, 'Service').find((s) => s.metadata.name === spec?.service?.name && namespaceOf(s) === spec?.service?.namespace);
      expect(service, `Service ${spec?.service?.namespace}/${spec?.service?.name}`).toBeDefined();
      const servicePort = service!.spec!.ports!.find((p) => p.port === (spec!.service!.port ?? 443));
      expect(servicePort, `port ${spec!.service!.port ?? 443} of the Service`).toBeDefined();
      const selected = selectedTemplates(objects, namespaceOf(service!), service!.spec!.selector);
      expect(selected.map(({ template }) => template.metadata?.labels?.[NAME_LABEL])).toEqual([CONTROL_PLANE]);
      const apiPort = Number(envValue(controlPlaneContainer(objects), 'PORTOLAN_API_PORT'));
      const container = controlPlaneContainer(objects);
      const targetPort = servicePort!.targetPort ?? servicePort!.port;
      const target = container.ports!.find((p) => p.containerPort === targetPort || p.name === targetPort);
      expect(target?.containerPort, 'the Service port leads to PORTOLAN_API_PORT').toBe(apiPort);
    });

    it('names that APIService and delegated authentication in its environment', () => {
      const container = controlPlaneContainer(objects);
      expect(envValue(container, 'PORTOLAN_APISERVICE_NAME')).toBe(APISERVICE_NAME);
      expect(envValue(container, 'PORTOLAN_KUBERNETES_AUTH')).toBe('delegated');
    });

    it('has every DNS name of the Services in front of its API in its certificate (PORTOLAN_TLS_SANS)', () => {
      const container = controlPlaneContainer(objects);
      const sans = (envValue(container, 'PORTOLAN_TLS_SANS') ?? '').split(',').map((name) => name.trim());
      const [{ template }] = templatesNamed(objects, CONTROL_PLANE);
      const apiPort = Number(envValue(container, 'PORTOLAN_API_PORT'));
      const leadsToApi = (target: number | string) => container.ports!.some((p) => p.containerPort === apiPort && (p.containerPort === target || p.name === target));
      const names = ofKind<IService>(objects, 'Service')
        .filter((service) => selects(service.spec?.selector, template.metadata?.labels))
        .filter((service) => service.spec?.ports?.some((p) => leadsToApi(p.targetPort ?? p.port)))
        .flatMap((service) => [service.metadata.name, `${service.metadata.name}.${namespaceOf(service)}.svc`]);
      expect(names.length).toBeGreaterThan(0);
      expect(names.filter((name) => !sans.includes(name))).toEqual([]);
    });
  });

  describe('gateways', () => {
    it('run one Deployment per zone, each pinned to its zone by node affinity and spread over the zone nodes', () => {
      const gateways = gatewayDeployments(objects);
      expect(gateways.length).toBeGreaterThan(0);
      const zones = gateways.map((d) => d.spec?.template.metadata?.labels?.[ZONE_LABEL]);
      expect(new Set(zones).size, `zones ${zones.join(', ')}`).toBe(gateways.length);
      // The zone's kustomization must replace the generic gateway's node zone.
      const generic = parseYaml(readFileSync(join(DEPLOY_DIR, 'gateway/deployment.yaml'), 'utf8')) as IDeployment;
      const placeholder = generic.spec!.template.spec!.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms[0].matchExpressions![0].values;
      for (const deployment of gateways) {
        const { labels } = deployment.spec!.template.metadata!;
        const podSpec = deployment.spec!.template.spec!;
        const terms = podSpec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
        const zoneTerms = terms.map((term) => term.matchExpressions?.find((e) => e.key === 'topology.kubernetes.io/zone' && e.operator === 'In'));
        expect(zoneTerms.length, `${nameOf(deployment)}: node affinity`).toBeGreaterThan(0);
        for (const expression of zoneTerms) {
          expect(expression?.values?.length, `${nameOf(deployment)}: a node zone in every term`).toBeGreaterThan(0);
          expect(expression?.values).not.toEqual(placeholder);
        }
        const spread = podSpec.topologySpreadConstraints?.find((c) => c.topologyKey === 'kubernetes.io/hostname');
        // Soft: a hard spread counts zone nodes without room too and leaves a gateway Pending, holding up drains (its budget) and scale-ups.
        expect(spread?.whenUnsatisfiable, `${nameOf(deployment)}: spread over nodes`).toBe('ScheduleAnyway');
        expect(selects(spread?.labelSelector?.matchLabels, labels), `${nameOf(deployment)}: the spread counts its own pods`).toBe(true);
        // The zone and pool the gateway reports are its pod's labels, which Prometheus, Services and budgets select on.
        const gateway = podSpec.containers[0];
        expect(gateway.env?.find((v) => v.name === 'PORTOLAN_GATEWAY_ZONE')?.valueFrom?.fieldRef?.fieldPath).toBe(`metadata.labels['${ZONE_LABEL}']`);
        expect(gateway.env?.find((v) => v.name === 'PORTOLAN_GATEWAY_POOL')?.valueFrom?.fieldRef?.fieldPath).toBe(`metadata.labels['${POOL_LABEL}']`);
      }
    });

    it('have a PodDisruptionBudget per zone, covering that zone only', () => {
      const gateways = gatewayDeployments(objects);
      const budgets = ofKind<IPodDisruptionBudget>(objects, 'PodDisruptionBudget');
      for (const deployment of gateways) {
        const covering = budgets.filter((pdb) => namespaceOf(pdb) === namespaceOf(deployment) && selects(pdb.spec?.selector?.matchLabels, deployment.spec!.template.metadata?.labels));
        expect(covering.length, `${nameOf(deployment)}: budgets`).toBe(1);
        const others = gateways.filter((other) => other !== deployment && selects(covering[0].spec?.selector?.matchLabels, other.spec!.template.metadata?.labels));
        expect(others.map(nameOf), `${nameOf(covering[0])} covers other zones`).toEqual([]);
      }
    });

    it('leave the pod time to drain: terminationGracePeriodSeconds covers the preStop sleep, the propagation wait or drain delay, and the drain timeout', () => {
      const defaults = gatewayVariables();
      for (const deployment of gatewayDeployments(objects)) {
        const podSpec = deployment.spec!.template.spec!;
        const [gateway] = podSpec.containers;
        const seconds = (name: string) => parseDuration(envValue(gateway, name) ?? defaults.get(name)!) / 1000;
        const preStop = gateway.lifecycle?.preStop?.sleep?.seconds ?? 0;
        const needed = preStop + Math.max(seconds('PORTOLAN_GATEWAY_PROPAGATION_WAIT'), seconds('PORTOLAN_GATEWAY_DRAIN_DELAY')) + seconds('PORTOLAN_GATEWAY_DRAIN_TIMEOUT');
        expect(podSpec.terminationGracePeriodSeconds ?? 30, nameOf(deployment)).toBeGreaterThan(needed);
      }
    });
  });

  describe('network policies', () => {
    const policies = () => ofKind<INetworkPolicy>(objects, 'NetworkPolicy');
    /** Every port the pods of a workload (by NAME_LABEL) declare, with who may reach it. */
    const reachability = (name: string) => {
      const templates = templatesNamed(objects, name);
      expect(templates.length, `pods of ${name}`).toBeGreaterThan(0);
      return templates.flatMap((selected) =>
        containersOf(selected.template).flatMap((container) =>
          (container.ports ?? []).map((port) => ({ workload: nameOf(selected.workload), port: `${port.containerPort}/${port.protocol ?? 'TCP'}`, name: port.name ?? '', peers: ingressPeers(objects, selected, port) })),
        ),
      );
    };
    /** The ports of a workload's pods whose peers are not the intended ones (keyed by port name, or by `port/protocol`). */
    const unintended = (name: string, key: 'name' | 'port', intended: Record<string, string[]>) =>
      reachability(name)
        .filter((entry) => JSON.stringify(entry.peers) !== JSON.stringify(intended[entry[key]]))
        .map((entry) => `${entry.workload} ${entry[key]}: reachable from ${entry.peers.join(', ')}${intended[entry[key]] ? `, not only ${intended[entry[key]].join(', ')}` : ' (a port this test does not know)'}`);

    it('restrict ingress only: no policy has egress rules, so DNS and every outgoing call keep working', () => {
      expect(policies().length).toBeGreaterThan(0);
      const withEgress = policies()
        .filter((policy) => policy.spec?.egress !== undefined || JSON.stringify(policy.spec?.policyTypes) !== JSON.stringify(['Ingress']))
        .map(nameOf);
      expect(withEgress).toEqual([]);
    });

    it('let only the control plane reach Consul\'s HTTP API, and only the Consul servers reach their RPC and gossip ports', () => {
      // Every port Consul's servers use, with the only peers that may reach it; a declared port missing here fails too.
      const intended: Record<string, string[]> = {
        '8500/TCP': [CONTROL_PLANE],
        '8300/TCP': ['consul'],
        '8301/TCP': ['consul'],
        '8301/UDP': ['consul'],
        '8302/TCP': ['consul'],
        '8302/UDP': ['consul'],
      };
      const declared = new Set(reachability('consul').map(({ port }) => port));
      expect(Object.keys(intended).filter((port) => !declared.has(port)), 'ports the servers use but do not declare').toEqual([]);
      expect(unintended('consul', 'port', intended)).toEqual([]);
    });

    it('open the control plane\'s API port to all (kube-apiserver, gateways, operators), its ops port to Prometheus only', () => {
      expect(unintended(CONTROL_PLANE, 'name', { api: ['anyone'], ops: ['prometheus'] })).toEqual([]);
    });

    it('open the gateways\' traffic port to all, their admin port to Prometheus only', () => {
      expect(unintended(GATEWAY, 'name', { http: ['anyone'], admin: ['prometheus'] })).toEqual([]);
    });

    it('name only peers that exist in the render', () => {
      const dangling = podTemplates(objects).flatMap((selected) =>
        containersOf(selected.template).flatMap((container) => (container.ports ?? []).flatMap((port) => ingressPeers(objects, selected, port).filter((peer) => peer.startsWith('no pod')))),
      );
      expect([...new Set(dangling)]).toEqual([]);
    });
  });

  describe('RBAC', () => {
    const roles = () => [...ofKind<KubeObject & { rules?: IPolicyRule[] }>(objects, 'Role'), ...ofKind<KubeObject & { rules?: IPolicyRule[] }>(objects, 'ClusterRole')];
    const bindings = () => [...ofKind<Binding>(objects, 'RoleBinding'), ...ofKind<Binding>(objects, 'ClusterRoleBinding')];
    const writable = KINDS.filter((kind) => !kind.managedBy).map((kind) => kind.plural);

    it('grants no wildcard', () => {
      const wildcards = roles().flatMap((role) =>
        (role.rules ?? []).filter((rule) => [rule.apiGroups, rule.resources, rule.verbs, rule.resourceNames, rule.nonResourceURLs].some((list) => list?.includes('*'))).map(() => nameOf(role)),
      );
      expect(wildcards).toEqual([]);
    });

    it('writes nothing but mesh objects, the one APIService, SubjectAccessReviews and the gateways\' scale', () => {
      const gatewayNames = gatewayDeployments(objects).map((d) => d.metadata.name).sort();
      const allowedWrites: Record<string, Set<string>> = {
        [`apiregistration.k8s.io/apiservices[${APISERVICE_NAME}]`]: new Set(['patch']),
        'authorization.k8s.io/subjectaccessreviews': new Set(['create']),
        [`apps/deployments/scale[${gatewayNames.join(',')}]`]: new Set(['patch']),
        ...Object.fromEntries(writable.flatMap((plural) => [[`${API_GROUP}/${plural}`, new Set(['create', 'update', 'patch', 'delete'])], [`${API_GROUP}/${plural}/rollback`, new Set(['create'])]])),
      };
      const excess = roles().flatMap((role) =>
        [...grants(role.rules)].flatMap(([resource, verbs]) =>
          [...verbs].filter((verb) => !READ_VERBS.has(verb) && !allowedWrites[resource]?.has(verb)).map((verb) => `${nameOf(role)}: ${verb} ${resource}`),
        ),
      );
      expect(excess).toEqual([]);
      // Scaling is allowed in a namespace, never across the cluster.
      const clusterScale = ofKind<KubeObject & { rules?: IPolicyRule[] }>(objects, 'ClusterRole').filter((role) => [...grants(role.rules).keys()].some((resource) => resource.startsWith('apps/deployments')));
      expect(clusterScale.map(nameOf)).toEqual([]);
    });

    it('reads Secrets nowhere cluster-wide (a ClusterRole that reads them reads every credential of the cluster)', () => {
      const secretReaders = ofKind<KubeObject & { rules?: IPolicyRule[] }>(objects, 'ClusterRole').filter((role) => [...grants(role.rules).keys()].some((resource) => /^\/secrets(\[|$)/.test(resource)));
      expect(secretReaders.map(nameOf)).toEqual([]);
    });

    it('lets the control plane get and patch the scale of exactly the gateway Deployments of the render, by a Role in their namespace', () => {
      const gateways = gatewayDeployments(objects);
      expect(gateways.length).toBeGreaterThan(0);
      for (const namespace of new Set(gateways.map(namespaceOf))) {
        const names = gateways.filter((d) => namespaceOf(d) === namespace).map((d) => d.metadata.name).sort();
        const granted = bindings()
          .filter((binding) => binding.kind === 'RoleBinding' && namespaceOf(binding) === namespace && binding.roleRef.kind === 'Role')
          .filter((binding) => binding.subjects?.some((s) => s.kind === 'ServiceAccount' && s.name === CONTROL_PLANE && s.namespace === NAMESPACE))
          .flatMap((binding) => roles().filter((role) => role.kind === 'Role' && namespaceOf(role) === namespace && role.metadata.name === binding.roleRef.name))
          .map((role) => asSorted(grants(role.rules)));
        // The scaler reads and patches the scale subresource only (kubernetes-scaler.ts): no `get deployments`.
        expect(granted).toEqual([{ [`apps/deployments/scale[${names.join(',')}]`]: ['get', 'patch'] }]);
      }
    });

    it('lets nothing scale a Deployment that is not a gateway (the control plane, Prometheus, Jaeger, the Collector)', () => {
      expect(nonGatewayScalers(objects)).toEqual([]);
    });

    it('offers viewer, editor and operator roles for every kind of libs/api: mesh-wide kinds only in the operator, which no built-in role aggregates', () => {
      const meshGrants = (name: string) => {
        const role = roles().find((r) => r.kind === 'ClusterRole' && r.metadata.name === name);
        expect(role, `ClusterRole ${name}`).toBeDefined();
        return { labels: role?.metadata.labels ?? {}, granted: asSorted(new Map([...grants(role?.rules)].filter(([resource]) => resource.startsWith(`${API_GROUP}/`)))) };
      };
      const entry = (resource: string, verbs: string[]): [string, string[]] => [`${API_GROUP}/${resource}`, verbs.sort()];
      const writes = (plurals: string[]) =>
        Object.fromEntries(
          [...plurals.map((plural) => entry(plural, ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'])), ...plurals.map((plural) => entry(`${plural}/rollback`, ['create']))].sort(),
        );
      const aggregation = (labels: Record<string, string>) =>
        Object.keys(labels)
          .filter((label) => label.startsWith('rbac.authorization.k8s.io/aggregate-to-') && labels[label] === 'true')
          .sort();

      const viewer = meshGrants('portolan-mesh-viewer');
      expect(aggregation(viewer.labels)).toEqual(['rbac.authorization.k8s.io/aggregate-to-view']);
      expect(viewer.granted).toEqual(
        Object.fromEntries(
          [
            ...KINDS.map((kind) => entry(kind.plural, ['get', 'list', 'watch'])),
            ...KINDS.map((kind) => entry(`${kind.plural}/status`, ['get'])),
            ...KINDS.filter((kind) => !kind.managedBy).map((kind) => entry(`${kind.plural}/history`, ['get'])),
            ...KINDS.filter((kind) => kind.isPolicy).map((kind) => entry(`${kind.plural}/rollout`, ['get'])),
            entry('gatewaynodes/effective-config', ['get']),
          ].sort(),
        ),
      );

      // Every user-written kind is written by exactly one of the two: a new kind in libs/api fails here until it is placed.
      const editor = meshGrants('portolan-mesh-editor');
      expect(aggregation(editor.labels)).toEqual(['rbac.authorization.k8s.io/aggregate-to-admin', 'rbac.authorization.k8s.io/aggregate-to-edit']);
      expect(editor.granted).toEqual(writes(writable.filter((plural) => !MESH_WIDE_KINDS.includes(plural))));
      const operator = meshGrants('portolan-mesh-operator');
      expect(aggregation(operator.labels), 'bound explicitly, never through edit or admin').toEqual([]);
      expect(operator.granted).toEqual(writes(writable.filter((plural) => MESH_WIDE_KINDS.includes(plural))));
      expect(MESH_WIDE_KINDS.filter((plural) => !writable.includes(plural)), 'mesh-wide kinds that libs/api does not have').toEqual([]);
    });

    it('folds no write of a mesh-wide kind into a built-in role (no aggregated ClusterRole writes zones, autoscalepolicies or failoverpolicies)', () => {
      const aggregated = ofKind<KubeObject & { rules?: IPolicyRule[] }>(objects, 'ClusterRole').filter((role) =>
        Object.entries(role.metadata.labels ?? {}).some(([label, value]) => label.startsWith('rbac.authorization.k8s.io/aggregate-to-') && value === 'true'),
      );
      expect(aggregated.length).toBeGreaterThan(0);
      const meshWideWrites = aggregated.flatMap((role) =>
        [...grants(role.rules)]
          .filter(([resource]) => MESH_WIDE_KINDS.some((plural) => resource.startsWith(`${API_GROUP}/${plural}`)))
          .filter(([, verbs]) => [...verbs].some((verb) => !READ_VERBS.has(verb)))
          .map(([resource, verbs]) => `${nameOf(role)}: ${[...verbs].join(',')} ${resource}`),
      );
      expect(meshWideWrites).toEqual([]);
    });

    it('lets the control plane create SubjectAccessReviews (and no TokenReviews), read the authentication ConfigMap and patch its APIService', () => {
      const ofControlPlane = (binding: Binding) => binding.subjects?.some((s) => s.kind === 'ServiceAccount' && s.name === CONTROL_PLANE && s.namespace === NAMESPACE);
      const boundTo = (kind: string, name: string, namespace?: string) =>
        bindings().some((binding) => binding.roleRef.kind === kind && binding.roleRef.name === name && (namespace === undefined || namespaceOf(binding) === namespace) && ofControlPlane(binding));
      expect(boundTo('Role', 'extension-apiserver-authentication-reader', 'kube-system'), 'extension-apiserver-authentication-reader').toBe(true);
      expect(boundTo('ClusterRole', 'portolan-control-plane-apiservice'), 'the APIService patch').toBe(true);
      // Not system:auth-delegator: it also grants TokenReviews, which the control plane never makes (it checks only its own tokens).
      expect(boundTo('ClusterRole', 'system:auth-delegator'), 'system:auth-delegator').toBe(false);
      const clusterGrants = bindings()
        .filter((binding) => binding.kind === 'ClusterRoleBinding' && binding.roleRef.kind === 'ClusterRole' && ofControlPlane(binding))
        .flatMap((binding) => roles().filter((role) => role.kind === 'ClusterRole' && role.metadata.name === binding.roleRef.name))
        .map((role) => asSorted(grants(role.rules)));
      expect(Object.assign({}, ...clusterGrants)).toEqual({
        [`apiregistration.k8s.io/apiservices[${APISERVICE_NAME}]`]: ['get', 'patch'],
        'authorization.k8s.io/subjectaccessreviews': ['create'],
      });
      const tokenReviews = roles().filter((role) => [...grants(role.rules).keys()].some((resource) => resource.startsWith('authentication.k8s.io/tokenreviews')));
      expect(tokenReviews.map(nameOf)).toEqual([]);
    });

    it('binds only ServiceAccounts and roles that exist (in the render, or built into Kubernetes)', () => {
      const builtIn = new Set(['Role/extension-apiserver-authentication-reader']);
      const accounts = new Set(ofKind(objects, 'ServiceAccount').map((sa) => `${namespaceOf(sa)}/${sa.metadata.name}`));
      const missing = bindings().flatMap((binding) => {
        const role = roles().find((r) => r.kind === binding.roleRef.kind && r.metadata.name === binding.roleRef.name && (r.kind === 'ClusterRole' || namespaceOf(r) === namespaceOf(binding)));
        const problems = role || builtIn.has(`${binding.roleRef.kind}/${binding.roleRef.name}`) ? [] : [`${nameOf(binding)}: ${binding.roleRef.kind} ${binding.roleRef.name}`];
        for (const subject of binding.subjects ?? []) {
          if (subject.kind === 'ServiceAccount' && !accounts.has(`${subject.namespace}/${subject.name}`)) problems.push(`${nameOf(binding)}: ServiceAccount ${subject.namespace}/${subject.name}`);
        }
        return problems;
      });
      expect(missing).toEqual([]);
    });
  });

  describe('observability', () => {
    it('has a Prometheus configuration that promtool accepts', async () => {
      const { configMap, key } = mountedConfig(objects, 'prometheus', /^--config\.file=(.+)$/);
      const dir = mkdtempSync(join(tmpdir(), 'portolan-prometheus-'));
      try {
        writeFileSync(join(dir, key), configMap.data![key]);
        const checked = await promisify(execFile)('/usr/bin/promtool', ['check', 'config', join(dir, key)]).catch((error: { stdout: string; stderr: string }) => error);
        expect(`${checked.stdout}${checked.stderr}`).toContain('SUCCESS');
        expect(`${checked.stdout}${checked.stderr}`).not.toContain('FAILED');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('scrapes every control-plane and gateway pod, ready or not, at a port it listens on; their annotations name the same port', () => {
      const { configMap, key } = mountedConfig(objects, 'prometheus', /^--config\.file=(.+)$/);
      type DnsDiscovery = { names: string[]; type?: string; port: number };
      const jobs = (parseYaml(configMap.data![key]) as { scrape_configs: { job_name: string; dns_sd_configs?: DnsDiscovery[] }[] }).scrape_configs;
      const [prometheus] = podTemplates(objects).filter(({ workload }) => workload.metadata.name === 'prometheus');
      // Each DNS name is a headless Service that publishes not-ready pods too: the pods it selects are scraped at the job's port.
      const scraped = jobs.flatMap((job) =>
        (job.dns_sd_configs ?? []).flatMap(({ names, type, port }) =>
          names.flatMap((name) => {
            const [service, namespace = namespaceOf(prometheus.workload)] = name.replace(/\.svc(\.cluster\.local)?\.?$/, '').split('.');
            const headless = ofKind<IService>(objects, 'Service').find((s) => s.metadata.name === service && namespaceOf(s) === namespace);
            expect(headless?.spec, `${job.job_name}: Service ${namespace}/${service}`).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
            expect(type ?? 'SRV', `${job.job_name}: A records (pod addresses) with the job's port`).toBe('A');
            return selectedTemplates(objects, namespace, headless!.spec!.selector).map((selected) => ({ selected, port }));
          }),
        ),
      );
      const unscraped = [...templatesNamed(objects, CONTROL_PLANE), ...templatesNamed(objects, GATEWAY)].flatMap(({ workload, template }) => {
        const annotations = template.metadata?.annotations ?? {};
        const ports = scraped.filter(({ selected }) => selected.workload === workload).map(({ port }) => port);
        const problems = [
          ports.length === 0 && 'no scrape job finds it',
          ...ports.filter((port) => !podsListenOn([{ workload, template }], port)).map((port) => `scraped at ${port}, which none of its containers listens on`),
          annotations['prometheus.io/scrape'] !== 'true' && 'not annotated prometheus.io/scrape: "true"',
          !ports.includes(Number(annotations['prometheus.io/port'])) && `prometheus.io/port ${annotations['prometheus.io/port']} is not the port it is scraped at`,
        ];
        return problems.filter(Boolean).map((problem) => `${nameOf(workload)}: ${problem}`);
      });
      expect(unscraped).toEqual([]);
    });

    it('has an OpenTelemetry Collector whose pipelines use defined components, listening where its Service sends and exporting to a Service', () => {
      const { configMap, key } = mountedConfig(objects, 'otel-collector', /^--config=(.+)$/);
      type Components = Record<string, { endpoint?: string; protocols?: Record<string, { endpoint?: string }> } | null>;
      const config = parseYaml(configMap.data![key]) as {
        receivers: Components;
        processors?: Components;
        exporters: Components;
        extensions?: Components;
        service: { extensions?: string[]; pipelines: Record<string, { receivers: string[]; processors?: string[]; exporters: string[] }> };
      };
      const undefinedRefs = Object.entries(config.service.pipelines).flatMap(([pipeline, { receivers, processors = [], exporters }]) => [
        ...receivers.filter((name) => !(name in config.receivers)).map((name) => `${pipeline}: receiver ${name}`),
        ...processors.filter((name) => !(name in (config.processors ?? {}))).map((name) => `${pipeline}: processor ${name}`),
        ...exporters.filter((name) => !(name in config.exporters)).map((name) => `${pipeline}: exporter ${name}`),
      ]);
      undefinedRefs.push(...(config.service.extensions ?? []).filter((name) => !(name in (config.extensions ?? {}))).map((name) => `extension ${name}`));
      expect(undefinedRefs).toEqual([]);
      const used = Object.values(config.service.pipelines).flatMap(({ receivers, processors = [], exporters }) => [...receivers, ...processors, ...exporters]);
      const unused = [...Object.keys(config.receivers), ...Object.keys(config.processors ?? {}), ...Object.keys(config.exporters)].filter((name) => !used.includes(name));
      expect(unused, 'components no pipeline uses').toEqual([]);

      const collector = ofKind<IService>(objects, 'Service').find((s) => s.metadata.name === 'otel-collector')!;
      const pods = selectedTemplates(objects, namespaceOf(collector), collector.spec?.selector);
      const receiverPorts = Object.values(config.receivers).flatMap((receiver) => Object.values(receiver?.protocols ?? {}).map((protocol) => Number(protocol.endpoint?.split(':').pop())));
      for (const servicePort of collector.spec!.ports!) {
        const target = servicePort.targetPort ?? servicePort.port;
        const containerPort = containersOf(pods[0].template).flatMap((c) => c.ports ?? []).find((p) => p.containerPort === target || p.name === target)?.containerPort;
        expect(receiverPorts, `Service port ${servicePort.name}`).toContain(containerPort);
      }
      const exportTargets = Object.entries(config.exporters).map(([name, exporter]) => [name, exporter?.endpoint && addressIn(exporter.endpoint)] as const);
      const unreachableExports = exportTargets.flatMap(([name, address]) => {
        const problem = address ? unreachable(objects, namespaceOf(collector), address.host, address.port) : `${name} has no host:port endpoint`;
        return problem ? [`${name}: ${problem}`] : [];
      });
      expect(unreachableExports).toEqual([]);
    });
  });
});

// ---- the mesh objects each overlay ships --------------------------------------------------------------

describe.each(meshDirs)('%s', (meshDir) => {
  const overlay = meshDir.replace(/\/mesh$/, '');
  let mesh: KubeObject[];
  let objects: KubeObject[];
  beforeAll(async () => {
    [mesh, objects] = await Promise.all([objectsOf(meshDir), objectsOf(overlay)]);
  });

  it('holds only mesh objects', () => {
    expect(mesh.filter((object) => !object.apiVersion.startsWith(`${API_GROUP}/`)).map(nameOf)).toEqual([]);
  });

  it('has a Zone for every zone the overlay runs gateways in, and none other', () => {
    const zones = ofKind(mesh, 'Zone').map((zone) => zone.metadata.name).sort();
    expect(zones).toEqual(gatewayDeployments(objects).map((d) => d.spec!.template.metadata!.labels![ZONE_LABEL]).sort());
  });

  it('autoscales only gateway Deployments of the overlay, of the pool and zone each AutoscalePolicy targets', () => {
    type Policy = KubeObject & { spec: { target: { pool: string; zone?: string }; scaler: { type: string; kubernetes?: { kind?: string; name: string; namespace?: string } } } };
    const policies = ofKind<Policy>(mesh, 'AutoscalePolicy');
    expect(policies.length).toBeGreaterThan(0);
    for (const policy of policies) {
      const { target, scaler } = policy.spec;
      expect(scaler.type, nameOf(policy)).toBe('Kubernetes');
      // The scaler's namespace defaults to the control plane's (docs/autoscaling.md).
      const namespace = scaler.kubernetes!.namespace ?? NAMESPACE;
      const deployment = gatewayDeployments(objects).find((d) => d.metadata.name === scaler.kubernetes!.name && namespaceOf(d) === namespace);
      expect(scaler.kubernetes!.kind ?? 'Deployment', nameOf(policy)).toBe('Deployment');
      expect(deployment, `${nameOf(policy)}: Deployment ${namespace}/${scaler.kubernetes!.name}`).toBeDefined();
      const labels = deployment!.spec!.template.metadata!.labels!;
      expect({ pool: labels[POOL_LABEL], zone: labels[ZONE_LABEL] }, nameOf(policy)).toEqual({ pool: target.pool, zone: target.zone });
    }
  });

  it('reads Prometheus only where the control plane has it, over at least four scrape intervals', () => {
    type Policy = KubeObject & { spec: { metric: { source?: string; window?: string } } };
    const fromPrometheus = ofKind<Policy>(mesh, 'AutoscalePolicy').filter((policy) => policy.spec.metric.source === 'Prometheus');
    if (fromPrometheus.length === 0) return;
    expect(envValue(controlPlaneContainer(objects), 'PORTOLAN_PROMETHEUS_URL')).toBeTruthy();
    const { configMap, key } = mountedConfig(objects, 'prometheus', /^--config\.file=(.+)$/);
    const interval = parseDuration((parseYaml(configMap.data![key]) as { global: { scrape_interval: string } }).global.scrape_interval);
    for (const policy of fromPrometheus) {
      // The window's default is 2m (docs/autoscaling.md).
      expect(parseDuration(policy.spec.metric.window ?? '2m'), nameOf(policy)).toBeGreaterThanOrEqual(4 * interval);
    }
  });
});
