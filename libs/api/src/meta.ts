/** The parts every Portolan resource shares: API group, object metadata, status and targetRef. */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { AtomicList, ListMap, Name, StringEnum } from './field-schemas.js';

export const API_GROUP = 'mesh.portolan.dev';
export const API_VERSION = 'v1alpha1';
export const GROUP_VERSION = `${API_GROUP}/${API_VERSION}`;
export const DEFAULT_NAMESPACE = 'default';

/** DNS-1123 subdomain, as Kubernetes requires of object names. */
export const OBJECT_NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

/**
 * Keys of a map: any string. TypeBox's own key pattern for Type.String() is `^(.*)$`, which no key
 * with a line break matches, and a key the pattern does not match goes unchecked: `{"a\nb": 5}`
 * would pass as a map of strings.
 */
const AnyKey = Type.String({ pattern: '^[\\s\\S]*$' });

const StringMap = (description: string) => Type.Record(AnyKey, Type.String(), { description });

/** The manager Kubernetes names the owner of fields set before field management began. */
export const BEFORE_FIRST_APPLY_MANAGER = 'before-first-apply';

/**
 * Who owns which fields, as kube-apiserver records it for server-side apply: one entry per manager
 * and operation. Written by the server; a client may replace the list (kubectl does, once, when it
 * moves an object from client-side to server-side apply).
 */
/**
 * kube-apiserver's limit on a manager's name (apimachinery's FieldManagerMaxLength), in bytes of
 * UTF-8 as Go counts a string: a JSON schema's maxLength counts characters, so the server checks
 * it (control plane, managed-fields.ts), for `?fieldManager=` and for managedFields alike.
 */
export const MAX_FIELD_MANAGER_BYTES = 128;

export const ManagedFieldsEntrySchema = Type.Object({
  manager: Type.String({
    minLength: 1,
    description: `Who wrote the fields: the request's fieldManager, else the product of its User-Agent (kubectl, curl), else unknown. At most ${MAX_FIELD_MANAGER_BYTES} bytes.`,
  }),
  operation: StringEnum(['Apply', 'Update'], {
    description: 'Apply: the fields the manager last applied with server-side apply (PATCH application/apply-patch+yaml). Update: the fields its creates, replaces and patches set.',
  }),
  apiVersion: Type.String({ description: 'API version the fields are named in.' }),
  time: Type.Optional(Type.String({ description: 'RFC 3339 time the manager last changed the object.' })),
  fieldsType: StringEnum(['FieldsV1'], { description: 'Encoding of fieldsV1.' }),
  fieldsV1: Type.Record(AnyKey, Type.Unknown(), {
    description:
      'The fields, as a tree: "f:<name>" for a field, "k:{<key fields as JSON>}" for an item of a list merged by key, "v:<JSON>" for an item of a set, "." for the item itself. Covers metadata.labels, metadata.annotations and spec.',
  }),
});
export type ManagedFieldsEntry = Static<typeof ManagedFieldsEntrySchema>;

export const ObjectMetaSchema = Type.Object(
  {
    name: Type.String({
      pattern: OBJECT_NAME_PATTERN,
      minLength: 1,
      maxLength: 253,
      description: 'Name, unique per kind within the namespace: lower-case letters, digits, "-" and ".", at most 253 characters.',
    }),
    namespace: Type.Optional(Name('Namespace of the object. Default: default.')),
    labels: Type.Optional(StringMap('Labels for selection (`kubectl get -l`).')),
    annotations: Type.Optional(StringMap('Free-form annotations; kubectl keeps its last-applied configuration here.')),
    uid: Type.Optional(Type.String({ description: 'Set by the server when the object is created. Read-only.' })),
    resourceVersion: Type.Optional(
      Type.String({
        description:
          'Opaque version of the stored object, set by the server on every write. Sending it back on an update makes the write conditional: a stale value is answered 409 Conflict.',
      }),
    ),
    generation: Type.Optional(Type.Integer({ description: 'Incremented by the server on every change to spec. Read-only.' })),
    creationTimestamp: Type.Optional(Type.String({ description: 'RFC 3339 time of creation, set by the server. Read-only.' })),
    managedFields: Type.Optional(
      AtomicList(ManagedFieldsEntrySchema, {
        description:
          'Which manager owns which fields, for server-side apply conflicts (kubectl get -o yaml --show-managed-fields). Maintained by the server; an object created before field management has none until its first server-side apply, which makes "before-first-apply" the owner of every field then set.',
      }),
    ),
  },
  { description: 'Standard object metadata.' },
);
export type ObjectMeta = Static<typeof ObjectMetaSchema>;

export const ConditionSchema = Type.Object({
  type: Type.String({ description: 'Condition type, e.g. Accepted or Overridden.' }),
  status: StringEnum(['True', 'False', 'Unknown'], { description: 'Status of the condition.' }),
  reason: Type.String({ description: 'Machine-readable reason in CamelCase.' }),
  message: Type.String({ description: 'Human-readable explanation.' }),
  observedGeneration: Type.Optional(Type.Integer({ description: 'metadata.generation this condition was computed for.' })),
  lastTransitionTime: Type.String({ description: 'RFC 3339 time the status last changed.' }),
});
export type Condition = Static<typeof ConditionSchema>;

export const ResourceStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer({ description: 'metadata.generation the status reflects.' })),
    conditions: Type.Optional(ListMap(ConditionSchema, ['type'], { description: 'Current conditions of the object.' })),
    rollout: Type.Optional(
      Type.Object(
        {
          revision: Type.Optional(Type.Integer({ description: 'Mesh revision at which this generation of the policy entered the configuration.' })),
          gateways: Type.Integer({ description: 'Routable gateways whose configuration contains this policy.' }),
          acked: Type.Integer({ description: 'Of those, gateways that ACKed a configuration at or after that revision.' }),
          nacked: Type.Integer({ description: 'Of those, gateways that rejected (NACKed) the configuration they should run.' }),
          pending: Type.Optional(Type.Integer({ description: 'Of those, gateways that have answered neither yet.' })),
          zones: Type.Optional(
            ListMap(
              Type.Object({
                zone: Type.String(),
                gateways: Type.Integer(),
                acked: Type.Integer(),
                nacked: Type.Integer(),
                pending: Type.Integer(),
              }),
              ['zone'],
              { description: 'The same counts per zone, sorted by zone.' },
            ),
          ),
          rejections: Type.Optional(
            AtomicList(
              Type.Object({
                gateway: Type.String({ description: 'GatewayNode name.' }),
                zone: Type.String(),
                version: Type.String({ description: 'The snapshot version it rejected.' }),
                errors: AtomicList(Type.Object({ resource: Type.String(), field: Type.Optional(Type.String()), message: Type.String() }), {}),
              }),
              { description: 'Why gateways rejected it: the first 10 NACKs, by gateway name.' },
            ),
          ),
        },
        { description: 'Policies only: how far the current configuration has reached the gateways.' },
      ),
    ),
    blastRadius: Type.Optional(
      Type.Unknown({
        description: 'Dry runs only: the gateways whose configuration the change would alter, per zone, with every field that would change and the policy that would set it.',
      }),
    ),
  },
  { description: 'Written by the control plane; ignored when sent by clients.' },
);
export type ResourceStatus = Static<typeof ResourceStatusSchema>;

export const TARGET_KINDS = ['Mesh', 'Service', 'Route'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

export const TargetRefSchema = Type.Object(
  {
    kind: StringEnum(TARGET_KINDS, {
      description: 'What the policy applies to. Route is more specific than Service, Service more than Mesh.',
    }),
    name: Type.Optional(
      Name('Name of the Service or Route in the policy\'s namespace. Required unless kind is Mesh, where it must be omitted.'),
    ),
    zone: Type.Optional(
      Name('Only gateways in this zone are affected. A zoned policy is more specific than an unzoned one of the same kind.'),
    ),
  },
  { description: 'The part of the mesh this policy applies to.' },
);
export type TargetRef = Static<typeof TargetRefSchema>;

/**
 * The envelope shared by every kind; `spec` is the kind's own schema. Kinds whose status carries
 * more than conditions (the registry's GatewayNode and ServiceInstance) pass their own status.
 */
export function resourceSchema<K extends string, S extends TSchema, T extends TSchema = typeof ResourceStatusSchema>(
  kind: K,
  spec: S,
  description: string,
  status?: T,
) {
  return Type.Object(
    {
      apiVersion: StringEnum([GROUP_VERSION], { description: `Always ${GROUP_VERSION}.` }),
      kind: StringEnum([kind], { description: `Always ${kind}.` }),
      metadata: ObjectMetaSchema,
      spec,
      status: Type.Optional((status ?? ResourceStatusSchema) as T),
    },
    { description },
  );
}

/** What every stored resource looks like, whatever its kind. */
export interface Resource<K extends string = string, S = unknown> {
  apiVersion: typeof GROUP_VERSION;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
  status?: ResourceStatus;
}

/** A Kubernetes `Time` (metav1.Time): RFC 3339 in UTC with whole seconds, as creationTimestamp and condition times are written. */
export function formatTime(ms: number = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Date.parse alone would take "2026-03-01", "March 1" or "1". */
const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * An RFC 3339 time, as Kubernetes reads a `Time` (and Portolan its time query parameters): the
 * milliseconds since the epoch and its fraction's digits (for sub-millisecond precision), or
 * undefined when the text is not one.
 */
export function parseTime(value: string): { ms: number; fraction: string } | undefined {
  const match = RFC3339.exec(value);
  if (!match) return undefined;
  const ms = Date.parse(`${match[1]}${match[2] ? `.${match[2].slice(0, 3)}` : ''}${match[3].toUpperCase()}`);
  return Number.isNaN(ms) ? undefined : { ms, fraction: match[2] ?? '' };
}
