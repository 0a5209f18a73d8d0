import { Type, type Static } from '@sinclair/typebox';
import { Bool } from '../field-schemas.js';
import { resourceSchema, type Resource } from '../meta.js';

export const ZoneSpecSchema = Type.Object({
  drained: Type.Optional(
    Bool({
      description: 'No new requests go to the zone\'s endpoints from any gateway (requests in flight finish); gateways there send their traffic to other zones. Set by POST /v1/zones/{zone}/drain or by editing this object.',
      default: false,
    }),
  ),
  reason: Type.Optional(Type.String({ maxLength: 256, description: 'Why the zone is drained, for whoever looks next.' })),
});
export type ZoneSpec = Static<typeof ZoneSpecSchema>;

export const ZoneSchema = resourceSchema('Zone', ZoneSpecSchema, 'A zone of the mesh that operators can drain. Zones exist without an object; one is needed only to drain it.');
export type Zone = Resource<'Zone', ZoneSpec>;
