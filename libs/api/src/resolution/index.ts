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
} from './effective-config.js';
export { comparePolicies, specificity } from './precedence.js';
export { policyRef, type FieldSource, type PolicySource } from './provenance-merge.js';
