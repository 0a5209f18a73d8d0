/**
 * Health (api-docs/health) and catalog (api-docs/catalog) reads, all blocking. The index of a
 * service's endpoints is the last change to any of its instances or their checks; the service list
 * moves when a service appears, goes or changes its tags; health/state moves on any check change.
 */
import { blockingRead } from './blocking.js';
import { flag, HttpError, type ConsulReply, type ConsulRequest } from './http.js';
import { SERF_HEALTH, type CheckRecord, type ConsulState, type ServiceRecord } from './state.js';
import { renderCatalogService, renderCheck, renderHealthService, renderNode } from './views.js';

const STATES = new Set(['any', 'passing', 'warning', 'critical']);

function instances(state: ConsulState, name: string, request: ConsulRequest): ServiceRecord[] {
  // api-docs/health `tag`: "Can be used multiple times ... returning only the results that include all of the tag values provided."
  const tags = request.params.getAll('tag');
  return [...state.services.values()]
    .filter((service) => service.name === name && tags.every((tag) => service.tags.includes(tag)))
    .sort((a, b) => a.id.localeCompare(b.id));
}

function serviceChecks(state: ConsulState, service: ServiceRecord): CheckRecord[] {
  return [...state.checks.values()].filter((check) => check.serviceId === service.id);
}

/** GET /v1/health/service/:name: one entry per instance, with its checks and the node's serfHealth. `?passing` keeps entries whose checks are all passing. */
export function healthService(state: ConsulState, request: ConsulRequest): Promise<ConsulReply | undefined> {
  const name = request.route[0];
  const passingOnly = flag(request, 'passing');
  return blockingRead(state, request, () => {
    const nodeChecks = [state.checks.get(SERF_HEALTH)!];
    const entries = instances(state, name, request)
      .map((service) => ({ service, checks: [...serviceChecks(state, service), ...nodeChecks] }))
      .filter(({ checks }) => !passingOnly || checks.every((check) => check.status === 'passing'))
      .map(({ service, checks }) => ({
        Node: renderNode(state),
        Service: renderHealthService(service),
        Checks: checks.map((check) => renderCheck(state, check)),
      }));
    return { body: entries, index: state.serviceIndex(name) };
  });
}

/** GET /v1/health/checks/:name: the checks of every instance of the service. */
export function healthChecks(state: ConsulState, request: ConsulRequest): Promise<ConsulReply | undefined> {
  const name = request.route[0];
  return blockingRead(state, request, () => ({
    body: instances(state, name, request).flatMap((service) => serviceChecks(state, service).map((check) => renderCheck(state, check))),
    index: state.serviceIndex(name),
  }));
}

/** GET /v1/health/state/:state: every check (node checks included) in that state; `any` is all of them. */
export function healthState(state: ConsulState, request: ConsulRequest): Promise<ConsulReply | undefined> {
  const wanted = request.route[0];
  if (!STATES.has(wanted)) throw new HttpError(400, 'Bad state');
  return blockingRead(state, request, () => ({
    body: [...state.checks.values()].filter((check) => wanted === 'any' || check.status === wanted).map((check) => renderCheck(state, check)),
    index: state.checksIndex,
  }));
}

/** GET /v1/health/node/:node: the node's checks. */
export function healthNode(state: ConsulState, request: ConsulRequest): Promise<ConsulReply | undefined> {
  const node = request.route[0];
  return blockingRead(state, request, () => ({
    body: node === state.options.nodeName ? [...state.checks.values()].map((check) => renderCheck(state, check)) : [],
    index: state.checksIndex,
  }));
}

/** GET /v1/catalog/services: service name -> the union of its instances' tags (the servers' own `consul` included). */
export function catalogServices(state: ConsulState, request: ConsulRequest): Promise<ConsulReply | undefined> {
  return blockingRead(state, request, () => {
    const services: Record<string, string[]> = {};
    for (const service of state.services.values()) {
      const tags = (services[service.name] ??= []);
      for (const tag of service.tags) if (!tags.includes(tag)) tags.push(tag);
    }
    return { body: services, index: state.servicesIndex };
  });
}

/** GET /v1/catalog/service/:name (with `?tag`). */
export function catalogService(state: ConsulState, request: ConsulRequest): Promise<ConsulReply | undefined> {
  const name = request.route[0];
  return blockingRead(state, request, () => ({
    body: instances(state, name, request).map((service) => renderCatalogService(state, service)),
    index: state.serviceIndex(name),
  }));
}

/** GET /v1/catalog/nodes: the double's one node. */
export function catalogNodes(state: ConsulState, request: ConsulRequest): Promise<ConsulReply | undefined> {
  return blockingRead(state, request, () => ({ body: [renderNode(state)], index: state.bootstrapIndex }));
}
