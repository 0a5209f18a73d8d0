/**
 * Status shared by the kinds the registry manages (GatewayNode, ServiceInstance). Both are
 * read-only to users: nodes register themselves through the agent protocol and the control plane
 * writes everything, so these schemas document what is shown rather than what is accepted.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ListMap, StringEnum } from '../field-schemas.js';
import { ConditionSchema } from '../meta.js';

export const LIFECYCLES = ['Healthy', 'Degraded', 'Draining', 'Offline'] as const;
export type Lifecycle = (typeof LIFECYCLES)[number];

export const RegistryStatusFields = {
  phase: StringEnum(LIFECYCLES, {
    description:
      'Healthy: heartbeating and applying config. Degraded: serving, but NACKing config or with open breakers. Draining: leaving, no longer routed to. Offline: missed heartbeats for its TTL, no longer routed to.',
  }),
  registeredAt: Type.String({ description: 'RFC 3339 time of the (latest) registration.' }),
  lastHeartbeat: Type.String({ description: 'RFC 3339 time of the last heartbeat.' }),
  offlineSince: Type.Optional(Type.String({ description: 'RFC 3339 time the node went Offline.' })),
  removalAt: Type.Optional(Type.String({ description: 'RFC 3339 time the node will be removed from the registry unless it heartbeats again.' })),
  removalInSeconds: Type.Optional(Type.Integer({ description: 'Seconds left until removal; shown while Offline.' })),
  conditions: Type.Optional(ListMap(ConditionSchema, ['type'], { description: 'Current conditions of the node.' })),
};

export const ServiceInstanceStatusSchema = Type.Object(RegistryStatusFields, { description: 'Written by the control plane.' });
export type ServiceInstanceStatus = Static<typeof ServiceInstanceStatusSchema>;
