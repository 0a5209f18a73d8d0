import { Type, type Static } from '@sinclair/typebox';
import { Integer, ListMap, ListSet, Name, StringEnum } from '../field-schemas.js';
import { resourceSchema, type Resource } from '../meta.js';

export const RouteSpecSchema = Type.Object({
  hostnames: Type.Optional(
    ListSet(
      Type.String({
        pattern: '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
        maxLength: 253,
        description: 'Host name, optionally with a leading "*." wildcard.',
      }),
      { maxItems: 16, description: 'Host headers this route answers. Default: every host.' },
    ),
  ),
  match: Type.Optional(
    Type.Object({
      pathPrefix: Type.Optional(Type.String({ pattern: '^/', maxLength: 1024, default: '/', description: 'Path prefix to match. Default: /.' })),
      headers: Type.Optional(
        ListMap(
          Type.Object({
            name: Type.String({ minLength: 1, maxLength: 256, description: 'Header name (case-insensitive).' }),
            value: Type.String({ maxLength: 4096, description: 'Value to compare with.' }),
            type: Type.Optional(StringEnum(['Exact', 'RegularExpression'], { description: 'How value is compared.', default: 'Exact' })),
          }),
          ['name'],
          { maxItems: 16, description: 'Headers that must all match, one entry per header name.' },
        ),
      ),
    }, { description: 'What requests this route takes.' }),
  ),
  backendRef: Type.Object(
    {
      name: Name('Service in the same namespace that receives the traffic.'),
      port: Type.Optional(Integer({ description: 'Service port. Default: the service\'s first port.', unit: 'TCP port', minimum: 1, maximum: 65_535 })),
    },
    { description: 'Where matching requests go.' },
  ),
});
export type RouteSpec = Static<typeof RouteSpecSchema>;

export const RouteSchema = resourceSchema('Route', RouteSpecSchema, 'Matches requests by host, path prefix and headers and sends them to a Service.');
export type Route = Resource<'Route', RouteSpec>;
