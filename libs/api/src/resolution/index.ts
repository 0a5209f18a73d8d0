export {
  buildResolutionIndex,
  policyContributions,
  resolveGateway,
  type EffectiveConfig,
  type EffectiveEndpoint,
  type EffectivePolicy,
  type EffectiveRoute,
  type GatewayIdentity,
  type ObjectRef,
  type PolicyContribution,
  type ResolutionIndex,
  type RouteFailover,
  type ZoneWeight,
} from './effective-config.js';
export { computeZoneWeights, splitByCapacity } from './zone-weights.js';
export { comparePolicies, specificity } from './precedence.js';
export { policyRef, type FieldSource, type PolicySource } from './provenance-merge.js';
