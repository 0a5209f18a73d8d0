import { Type, type Static } from '@sinclair/typebox';
import { AtomicList, Integer, ListMap, Name, StringEnum } from '../field-schemas.js';
import { resourceSchema, type Resource } from '../meta.js';

const Port = (description: string) => Integer({ description, unit: 'TCP port', minimum: 1, maximum: 65_535 });

export const ServiceSpecSchema = Type.Object({
  ports: ListMap(
    Type.Object({
      name: Type.Optional(Name('Port name, used by Routes to pick a port.')),
      port: Port('Port the service listens on.'),
      protocol: Type.Optional(StringEnum(['http', 'http2', 'tcp'], { description: 'Application protocol.', default: 'http' })),
    }),
    ['port'],
    { minItems: 1, maxItems: 16, description: 'Ports of the service, each port number once. Minimum 1, maximum 16 items.' },
  ),
  endpoints: Type.Optional(
    AtomicList(
      Type.Object({
        address: Type.String({ minLength: 1, maxLength: 253, description: 'IP address or host name of the instance.' }),
        port: Type.Optional(Port('Port of this instance. Default: the service port.')),
        zone: Type.Optional(Name('Zone of the instance; gateways prefer endpoints in their own zone.')),
        weight: Type.Optional(Integer({ description: 'Relative share of traffic.', unit: 'weight', minimum: 1, maximum: 128, default: 1 })),
      }),
      { maxItems: 1_000, description: 'Static endpoints. Omit them when instances come from the registry.' },
    ),
  ),
});
export type ServiceSpec = Static<typeof ServiceSpecSchema>;

export const ServiceSchema = resourceSchema('Service', ServiceSpecSchema, 'An upstream service that gateways route to.');
export type Service = Resource<'Service', ServiceSpec>;
