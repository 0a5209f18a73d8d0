/** How the node, services and checks appear in agent, health and catalog responses. */
import { NODE_ID, type CheckRecord, type ConsulState, type ServiceRecord } from './state.js';

export const NODE_ADDRESS = '127.0.0.1';

export function renderNode(state: ConsulState): Record<string, unknown> {
  return {
    ID: NODE_ID,
    Node: state.options.nodeName,
    Address: NODE_ADDRESS,
    Datacenter: state.options.datacenter,
    TaggedAddresses: { lan: NODE_ADDRESS, lan_ipv4: NODE_ADDRESS, wan: NODE_ADDRESS, wan_ipv4: NODE_ADDRESS },
    Meta: { 'consul-network-segment': '' },
    CreateIndex: state.bootstrapIndex,
    ModifyIndex: state.bootstrapIndex,
  };
}

export function renderCheck(state: ConsulState, check: CheckRecord): Record<string, unknown> {
  return {
    Node: state.options.nodeName,
    CheckID: check.checkId,
    Name: check.name,
    Status: check.status,
    Notes: check.notes,
    Output: check.output,
    ServiceID: check.serviceId,
    ServiceName: check.serviceName,
    ServiceTags: state.services.get(check.serviceId)?.tags ?? [],
    Type: check.type,
    Definition: check.definition,
    CreateIndex: check.createIndex,
    ModifyIndex: check.modifyIndex,
  };
}

/** A service as /v1/agent/services lists it. */
export function renderAgentService(state: ConsulState, service: ServiceRecord): Record<string, unknown> {
  return {
    ID: service.id,
    Service: service.name,
    Tags: service.tags,
    Meta: service.meta,
    Port: service.port,
    Address: service.address,
    Weights: service.weights,
    EnableTagOverride: service.enableTagOverride,
    Datacenter: state.options.datacenter,
  };
}

/** A service as /v1/health/service entries carry it. */
export function renderHealthService(service: ServiceRecord): Record<string, unknown> {
  return {
    ID: service.id,
    Service: service.name,
    Tags: service.tags,
    Address: service.address,
    Meta: service.meta,
    Port: service.port,
    Weights: service.weights,
    EnableTagOverride: service.enableTagOverride,
    CreateIndex: service.createIndex,
    ModifyIndex: service.modifyIndex,
  };
}

/** A service instance as /v1/catalog/service lists it (node fields flattened in). */
export function renderCatalogService(state: ConsulState, service: ServiceRecord): Record<string, unknown> {
  const node = renderNode(state);
  return {
    ID: node.ID,
    Node: node.Node,
    Address: node.Address,
    Datacenter: node.Datacenter,
    TaggedAddresses: node.TaggedAddresses,
    NodeMeta: node.Meta,
    ServiceKind: '',
    ServiceID: service.id,
    ServiceName: service.name,
    ServiceTags: service.tags,
    ServiceAddress: service.address,
    ServiceWeights: service.weights,
    ServiceMeta: service.meta,
    ServicePort: service.port,
    ServiceEnableTagOverride: service.enableTagOverride,
    CreateIndex: service.createIndex,
    ModifyIndex: service.modifyIndex,
  };
}
