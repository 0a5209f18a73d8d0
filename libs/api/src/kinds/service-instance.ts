import { Type, type Static } from '@sinclair/typebox';
import { Integer, Name } from '../field-schemas.js';
import { resourceSchema, type Resource } from '../meta.js';
import { ServiceInstanceStatusSchema, type ServiceInstanceStatus } from './registry-status.js';

export const ServiceInstanceSpecSchema = Type.Object({
  service: Name('Service this instance backs, in the same namespace.'),
  address: Type.String({ minLength: 1, maxLength: 253, description: 'IP address or host name of the instance.' }),
  port: Integer({ description: 'Port of this instance.', unit: 'TCP port', minimum: 1, maximum: 65_535 }),
  zone: Type.Optional(Name('Zone of the instance; gateways prefer endpoints in their own zone. Instances registered in Consul by other tools may have none.')),
  weight: Type.Optional(Integer({ description: 'Relative share of traffic.', unit: 'weight', minimum: 1, maximum: 128, default: 1 })),
  version: Type.Optional(Type.String({ maxLength: 128, description: 'Version the instance reported.' })),
});
export type ServiceInstanceSpec = Static<typeof ServiceInstanceSpecSchema>;

export const ServiceInstanceSchema = resourceSchema(
  'ServiceInstance',
  ServiceInstanceSpecSchema,
  'An upstream instance that registered itself through the agent protocol. Read-only: it joins and leaves by registering, heartbeating and deregistering.',
  ServiceInstanceStatusSchema,
);
export type ServiceInstance = Resource<'ServiceInstance', ServiceInstanceSpec> & { status?: ServiceInstanceStatus };
