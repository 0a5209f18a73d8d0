import { RateLimitPolicySchema, type ManagedFieldsEntry, type Resource } from '@portolan/api';
import { describe, expect, it } from 'vitest';
import { describePath } from './field-path';
import { decodeFieldsV1 } from './fields-v1';
import { applyConfiguration, describeConflicts, LAST_APPLIED_ANNOTATION, recordUpdate, trackedSchemaOf, type ApplyOutcome } from './field-manager';
import { ManagedFieldsInvalid } from './managed-fields';

const API = 'mesh.portolan.dev/v1alpha1';
const schema = trackedSchemaOf(RateLimitPolicySchema);
const [T1, T2, T3] = ['2025-01-01T00:00:01Z', '2025-01-01T00:00:02Z', '2025-01-01T00:00:03Z'];

const perSecond = (requests = 10) => ({ name: 'per-second', requests, interval: '1s' });
const perMinute = { name: 'per-minute', requests: 100, interval: '1m' };

function policy(spec: Record<string, unknown>, metadata: Record<string, unknown> = {}): Resource {
  return { apiVersion: API, kind: 'RateLimitPolicy', metadata: { name: 'checkout', namespace: 'default', ...metadata }, spec } as Resource;
}
const spec = (limits: unknown[], extra: Record<string, unknown> = {}) => ({ targetRef: { kind: 'Mesh' }, limits, ...extra });

function apply(live: Resource | undefined, config: Resource, manager: string, options: { force?: boolean; now?: string } = {}): ApplyOutcome {
  return applyConfiguration({ live, config, sent: config, manager, force: options.force ?? false, schema, apiVersion: API, now: options.now ?? T1 });
}

/** The object as the store would keep it after the apply. */
function stored(outcome: ApplyOutcome): Resource {
  if ('conflicts' in outcome) throw new Error(`unexpected conflicts: ${describeConflicts(outcome.conflicts).message}`);
  if ('untyped' in outcome) throw new Error(`unexpected untyped ${outcome.in}: ${outcome.untyped.field}`);
  return { ...outcome.object, metadata: { ...outcome.object.metadata, ...(outcome.managedFields ? { managedFields: outcome.managedFields } : {}) } } as Resource;
}

function update(live: Resource | undefined, object: Resource, manager: string, now = T2): Resource {
  const managedFields = recordUpdate({ live, object, manager, schema, apiVersion: API, now });
  const { managedFields: _sent, ...metadata } = object.metadata;
  return { ...object, metadata: { ...metadata, ...(managedFields ? { managedFields } : {}) } } as Resource;
}

/** The fields `manager` owns, as kube-apiserver prints paths. */
function ownedBy(object: Resource, manager: string): string[] {
  const entry = object.metadata.managedFields?.find((candidate) => candidate.manager === manager);
  return entry ? decodeFieldsV1(entry.fieldsV1).paths().map(describePath) : [];
}

const conflictMessage = (outcome: ApplyOutcome) => ('conflicts' in outcome ? describeConflicts(outcome.conflicts).message : 'no conflict');

describe('server-side apply', () => {
  it('creates the object and makes the applier own exactly what it applied', () => {
    const outcome = apply(undefined, policy(spec([perSecond()])), 'alice');
    expect(stored(outcome).metadata.managedFields).toEqual([
      {
        manager: 'alice',
        operation: 'Apply',
        apiVersion: API,
        time: T1,
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:spec': { 'f:limits': { 'k:{"name":"per-second"}': { '.': {}, 'f:interval': {}, 'f:name': {}, 'f:requests': {} } }, 'f:targetRef': { 'f:kind': {} } } },
      },
    ]);
  });

  it('refuses to change a field another manager applied, in kube-apiserver\'s words', () => {
    const live = stored(apply(undefined, policy(spec([perSecond()])), 'alice'));
    const outcome = apply(live, policy(spec([perSecond(20)])), 'bob');
    expect('conflicts' in outcome && describeConflicts(outcome.conflicts)).toEqual({
      message: 'Apply failed with 1 conflict: conflict with "alice": .spec.limits[name="per-second"].requests',
      causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "alice"', field: '.spec.limits[name="per-second"].requests' }],
    });
  });

  it('lists several conflicts by manager, updaters with the API version they wrote in', () => {
    const applied = stored(apply(undefined, policy(spec([perSecond()])), 'alice'));
    const live = update(applied, policy(spec([perSecond()], { scope: 'mesh' })), 'carol');
    const outcome = apply(live, policy({ targetRef: { kind: 'Service', name: 'checkout' }, limits: [perSecond(20)], scope: 'gateway' }), 'bob');
    expect(conflictMessage(outcome)).toBe(
      [
        'Apply failed with 3 conflicts: conflicts with "alice":',
        '- .spec.limits[name="per-second"].requests',
        '- .spec.targetRef.kind',
        'conflicts with "carol" using mesh.portolan.dev/v1alpha1:',
        '- .spec.scope',
      ].join('\n'),
    );
  });

  it('shares a field applied with the value it already has', () => {
    const live = stored(apply(undefined, policy(spec([perSecond()])), 'alice'));
    const shared = stored(apply(live, policy(spec([perSecond()])), 'bob', { now: T2 }));
    expect(ownedBy(shared, 'bob')).toEqual(ownedBy(shared, 'alice'));
    expect(ownedBy(shared, 'alice')).toContain('.spec.limits[name="per-second"].requests');
  });

  it('with force, moves the conflicting fields to the applier and leaves the others their owner\'s', () => {
    const live = stored(apply(undefined, policy(spec([perSecond()])), 'alice'));
    const forced = stored(apply(live, policy(spec([perSecond(20)])), 'bob', { force: true, now: T2 }));
    expect(forced.spec).toEqual(spec([perSecond(20)]));
    expect(ownedBy(forced, 'bob')).toContain('.spec.limits[name="per-second"].requests');
    expect(ownedBy(forced, 'alice')).not.toContain('.spec.limits[name="per-second"].requests');
    expect(ownedBy(forced, 'alice')).toContain('.spec.limits[name="per-second"].interval');
  });

  it('removes what the applier dropped, unless another manager still owns it', () => {
    const alice = stored(apply(undefined, policy(spec([perSecond(), perMinute], { scope: 'mesh', onLimit: { statusCode: 503 } })), 'alice'));
    const bob = stored(apply(alice, policy(spec([perSecond()], { scope: 'mesh' })), 'bob', { now: T2 }));
    const dropped = stored(apply(bob, policy(spec([perSecond()])), 'alice', { now: T3 }));
    // per-minute and onLimit were alice's alone; scope is bob's too.
    expect(dropped.spec).toEqual(spec([perSecond()], { scope: 'mesh' }));
    expect(ownedBy(dropped, 'alice')).not.toContain('.spec.scope');
    expect(ownedBy(dropped, 'bob')).toContain('.spec.scope');
  });

  it('makes before-first-apply the owner of everything an object had before field management', () => {
    const legacy = policy(spec([perSecond()]), { labels: { team: 'payments' } });
    expect(conflictMessage(apply(legacy, policy(spec([perSecond(20)])), 'bob'))).toBe(
      'Apply failed with 1 conflict: conflict with "before-first-apply" using mesh.portolan.dev/v1alpha1: .spec.limits[name="per-second"].requests',
    );
    const adopted = stored(apply(legacy, policy(spec([perSecond()])), 'bob'));
    expect(adopted.metadata.managedFields!.map((entry) => [entry.manager, entry.operation, entry.time])).toEqual([
      ['bob', 'Apply', T1],
      ['before-first-apply', 'Update', T1],
    ]);
    expect(ownedBy(adopted, 'before-first-apply')).toContain('.metadata.labels.team');
  });

  it('leaves the object and its managedFields as they were when the same configuration is applied again', () => {
    const first = stored(apply(undefined, policy(spec([perSecond()])), 'alice'));
    const again = stored(apply(first, policy(spec([perSecond()])), 'alice', { now: T3 }));
    expect(again).toEqual(first);
  });

  it('counts another manager\'s field the apply would remove as a conflict, but not what goes with an item the applier drops', () => {
    const alice = stored(apply(undefined, policy(spec([perSecond()], { onLimit: { statusCode: 503 } })), 'alice'));
    // A configuration (not one validation lets through, but one applyConfiguration is given) that replaces onLimit by a value without statusCode.
    const outcome = apply(alice, policy(spec([perSecond()], { onLimit: null })), 'bob');
    expect(conflictMessage(outcome)).toBe('Apply failed with 1 conflict: conflict with "alice": .spec.onLimit.statusCode');
    const forced = stored(apply(alice, policy(spec([perSecond()], { onLimit: null })), 'bob', { force: true }));
    expect(ownedBy(forced, 'alice')).not.toContain('.spec.onLimit.statusCode');

    // kubectl-edit sets a burst in alice's per-minute limit; alice drops the limit: it goes, burst with it, as in kube-apiserver.
    const two = stored(apply(undefined, policy(spec([perSecond(), perMinute])), 'alice'));
    const edited = update(two, policy(spec([perSecond(), { ...perMinute, burst: 200 }])), 'kubectl-edit');
    const dropped = stored(apply(edited, policy(spec([perSecond()])), 'alice', { now: T3 }));
    expect(dropped.spec).toEqual(spec([perSecond()]));
  });

  it('refuses a configuration whose list items cannot be told apart, as validation words it, rather than merging the list whole', () => {
    const live = stored(apply(undefined, policy(spec([perSecond(), perMinute])), 'alice'));
    const outcome = apply(live, policy(spec([{ requests: 1, interval: '1s' }])), 'bob');
    expect(outcome).toEqual({
      untyped: { field: 'spec.limits[0].name', reason: 'FieldValueRequired', message: 'Required value: name each limit (e.g. per-second); limits are merged by name' },
      in: 'config',
    });
  });

  it('says when the stored object is the one whose list cannot be told apart (written before names were required)', () => {
    const legacy = policy(spec([{ requests: 1, interval: '1s' }]));
    expect(apply(legacy, policy(spec([perSecond()])), 'bob')).toMatchObject({ untyped: { field: 'spec.limits[0].name', reason: 'FieldValueRequired' }, in: 'live' });
  });

  it('merges, owns and keeps a label named __proto__ like any other', () => {
    const live = stored(apply(undefined, policy(spec([perSecond()]), { labels: { team: 'payments' } }), 'alice'));
    const applied = stored(apply(live, policy(spec([perSecond()]), JSON.parse('{"labels":{"__proto__":"x"}}')), 'bob', { now: T2 }));
    expect(JSON.stringify(applied.metadata.labels)).toBe('{"team":"payments","__proto__":"x"}');
    expect(ownedBy(applied, 'bob')).toContain('.metadata.labels.__proto__');
  });
});

describe('kubectl moving an object from client-side to server-side apply', () => {
  const manifest = (requests: number) => policy(spec([perSecond(requests)]));
  const lastApplied = (requests: number) => JSON.stringify(manifest(requests));
  const clientSideApplied = () => update(undefined, policy(spec([perSecond(10)]), { annotations: { [LAST_APPLIED_ANNOTATION]: lastApplied(10) } }), 'kubectl-client-side-apply', T1);

  it('lets kubectl take fields that still have the value client-side apply gave them, and rewrites the annotation', () => {
    const sent = manifest(20);
    const outcome = applyConfiguration({ live: clientSideApplied(), config: sent, sent, manager: 'kubectl', force: false, schema, apiVersion: API, now: T2 });
    const migrated = stored(outcome);
    expect(migrated.spec).toEqual(spec([perSecond(20)]));
    expect(ownedBy(migrated, 'kubectl')).toContain('.spec.limits[name="per-second"].requests');
    expect(ownedBy(migrated, 'kubectl-client-side-apply')).not.toContain('.spec.limits[name="per-second"].requests');
    expect(migrated.metadata.annotations![LAST_APPLIED_ANNOTATION]).toBe(
      '{"apiVersion":"mesh.portolan.dev/v1alpha1","kind":"RateLimitPolicy","metadata":{"name":"checkout","namespace":"default"},"spec":{"limits":[{"interval":"1s","name":"per-second","requests":20}],"targetRef":{"kind":"Mesh"}}}\n',
    );
  });

  it('still reports a field someone changed since the last client-side apply', () => {
    const edited = update(clientSideApplied(), policy(spec([perSecond(15)]), { annotations: { [LAST_APPLIED_ANNOTATION]: lastApplied(10) } }), 'kubectl-edit');
    expect(conflictMessage(apply(edited, manifest(20), 'kubectl'))).toBe(
      'Apply failed with 1 conflict: conflict with "kubectl-edit" using mesh.portolan.dev/v1alpha1: .spec.limits[name="per-second"].requests',
    );
  });

  it('does neither for another manager', () => {
    expect(conflictMessage(apply(clientSideApplied(), manifest(20), 'alice'))).toBe(
      'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using mesh.portolan.dev/v1alpha1: .spec.limits[name="per-second"].requests',
    );
    const shared = stored(apply(clientSideApplied(), manifest(10), 'alice'));
    expect(shared.metadata.annotations![LAST_APPLIED_ANNOTATION]).toBe(lastApplied(10));
  });
});

describe('updates (create, replace, patch)', () => {
  it('make a create\'s manager the owner of every field it set', () => {
    const created = update(undefined, policy(spec([perSecond()]), { labels: { team: 'payments' } }), 'kubectl-create', T1);
    expect(created.metadata.managedFields!.map((entry) => [entry.manager, entry.operation, entry.time])).toEqual([['kubectl-create', 'Update', T1]]);
    expect(ownedBy(created, 'kubectl-create')).toContain('.metadata.labels.team');
  });

  it('move a changed field to the writer, and drop a removed one from every manager', () => {
    const applied = stored(apply(undefined, policy(spec([perSecond()], { scope: 'mesh' })), 'alice'));
    const edited = update(applied, policy(spec([perSecond(20)], { scope: 'mesh' })), 'kubectl-edit', T2);
    expect(ownedBy(edited, 'kubectl-edit')).toEqual(['.spec.limits[name="per-second"].requests']);
    expect(ownedBy(edited, 'alice')).not.toContain('.spec.limits[name="per-second"].requests');
    const removed = update(edited, policy(spec([perSecond(20)])), 'kubectl-patch', T3);
    expect(ownedBy(removed, 'alice')).not.toContain('.spec.scope');
    // Removing takes nothing: the remover owns nothing for it.
    expect(removed.metadata.managedFields!.map((entry) => entry.manager)).toEqual(['alice', 'kubectl-edit']);
  });

  it('leave managedFields exactly as they were when they change nothing', () => {
    const applied = stored(apply(undefined, policy(spec([perSecond()])), 'alice'));
    expect(update(applied, policy(spec([perSecond()])), 'kubectl-edit', T3).metadata.managedFields).toEqual(applied.metadata.managedFields);
  });

  it('drop managedFields when the stored object cannot be typed (a limit without a name), as kube-apiserver does', () => {
    const applied = stored(apply(undefined, policy(spec([perSecond()])), 'alice'));
    const legacy = { ...applied, spec: spec([{ requests: 10, interval: '1s' }]) } as Resource;
    expect(update(legacy, policy(spec([perSecond(20)])), 'kubectl-edit').metadata.managedFields).toBeUndefined();
  });

  it('do not start tracking an object stored without managedFields', () => {
    expect(update(policy(spec([perSecond()])), policy(spec([perSecond(20)])), 'kubectl-edit').metadata.managedFields).toBeUndefined();
  });

  it('take managedFields the client changed as given, and an empty list as a reset', () => {
    const applied = stored(apply(undefined, policy(spec([perSecond()])), 'alice'));
    const given: ManagedFieldsEntry[] = [{ manager: 'kubectl', operation: 'Apply', apiVersion: API, time: T1, fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:targetRef': { 'f:kind': {} } } } }];
    expect(update(applied, { ...applied, metadata: { ...applied.metadata, managedFields: given } }, 'kubectl').metadata.managedFields).toEqual(given);
    expect(update(applied, { ...applied, metadata: { ...applied.metadata, managedFields: [] } }, 'kubectl').metadata.managedFields).toBeUndefined();
  });

  it('refuse managedFields that cannot be read, naming the entry', () => {
    const applied = stored(apply(undefined, policy(spec([perSecond()])), 'alice'));
    const bad = [{ ...applied.metadata.managedFields![0], fieldsV1: { 'spec': {} } }];
    expect(() => update(applied, { ...applied, metadata: { ...applied.metadata, managedFields: bad } }, 'kubectl')).toThrow(ManagedFieldsInvalid);
    expect(() => update(applied, { ...applied, metadata: { ...applied.metadata, managedFields: bad } }, 'kubectl')).toThrow('metadata.managedFields[0].fieldsV1: Invalid value: "spec": must start with f:, k:, v: or i:, or be "."');
  });
});
