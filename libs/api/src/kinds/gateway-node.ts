import { Type, type Static } from '@sinclair/typebox';
import { AtomicList, Integer, ListMap, Name } from '../field-schemas.js';
import { ConditionSchema, resourceSchema, type Resource } from '../meta.js';
import { RegistryStatusFields } from './registry-status.js';

export const GatewayNodeSpecSchema = Type.Object({
  zone: Name('Zone the gateway runs in.'),
  pool: Name('Pool the gateway belongs to; mesh-scoped rate limits are shared across a pool.'),
  address: Type.String({ maxLength: 261, description: 'host:port where the gateway accepts traffic.' }),
  version: Type.String({ maxLength: 128, description: 'Gateway software version.' }),
  routes: Type.Optional(
    AtomicList(Type.Object({ namespace: Name('Namespace of the Route.'), name: Name('Name of the Route.') }), {
      maxItems: 10_000,
      description: 'Routes the gateway serves; omitted means every Route.',
    }),
  ),
});
export type GatewayNodeSpec = Static<typeof GatewayNodeSpecSchema>;

const NackSchema = Type.Object({
  version: Type.String({ description: 'Snapshot version that was rejected.' }),
  revision: Integer({ description: 'Mesh revision of that snapshot.', unit: 'revision', minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  time: Type.String({ description: 'RFC 3339 time of the NACK.' }),
  errors: AtomicList(
    Type.Object({
      resource: Type.String({ description: 'Kind/namespace/name of the resource that could not be applied.' }),
      field: Type.Optional(Type.String({ description: 'Field path inside that resource.' })),
      message: Type.String({ description: 'Why the gateway rejected it.' }),
    }),
    { description: 'What was rejected; the gateway keeps serving its last good version of those parts.' },
  ),
});

export const GatewayNodeStatusSchema = Type.Object(
  {
    ...RegistryStatusFields,
    desiredVersion: Type.Optional(Type.String({ description: 'Snapshot version the control plane wants this gateway to run.' })),
    appliedVersion: Type.Optional(Type.String({ description: 'Last snapshot version the gateway ACKed.' })),
    appliedRevision: Type.Optional(Integer({ description: 'Mesh revision of the last ACKed snapshot.', unit: 'revision', minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
    synced: Type.Optional(Type.Boolean({ description: 'The gateway ACKed the snapshot it should run.' })),
    transport: Type.Optional(Type.String({ description: 'How the gateway receives config: websocket, long-poll or none (not connected).' })),
    lastNack: Type.Optional(NackSchema),
    stats: Type.Optional(Type.Unknown({ description: 'Traffic counters of the last heartbeat period (agent protocol HeartbeatStats).' })),
    conditions: Type.Optional(ListMap(ConditionSchema, ['type'], { description: 'Current conditions of the node.' })),
  },
  { description: 'Written by the control plane.' },
);
export type GatewayNodeStatus = Static<typeof GatewayNodeStatusSchema>;

export const GatewayNodeSchema = resourceSchema(
  'GatewayNode',
  GatewayNodeSpecSchema,
  'A gateway registered with the control plane. Read-only: gateways register, heartbeat and deregister themselves through the agent protocol.',
  GatewayNodeStatusSchema,
);
export type GatewayNode = Resource<'GatewayNode', GatewayNodeSpec> & { status?: GatewayNodeStatus };
