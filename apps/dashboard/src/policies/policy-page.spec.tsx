import { forEachDiagnostic } from '@codemirror/lint';
import { EditorView } from '@codemirror/view';
import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { BlastRadius, GatewayRow, MeshEvent, PolicyRollout, Resource } from '@portolan/api';
import { PolicyPage } from './policy-page';
import { renderPage, resetHarness, statusResponse, type MethodRoute as Route, type RecordedRequest } from '../testing/page-harness';

const OBJECT_PATH = '/apis/mesh.portolan.dev/v1alpha1/namespaces/default/ratelimitpolicies/checkout-limits';
const routes = [
  { path: 'policies/new', element: <PolicyPage /> },
  { path: 'policies/:kind/:namespace/:name', element: <PolicyPage /> },
];

function policy(resourceVersion: string, requests: number, rollout: { acked: number; gateways: number }, extraConditions: NonNullable<Resource['status']>['conditions'] = []): Resource {
  return {
    apiVersion: 'mesh.portolan.dev/v1alpha1',
    kind: 'RateLimitPolicy',
    metadata: {
      name: 'checkout-limits',
      namespace: 'default',
      labels: { team: 'payments' },
      uid: 'f0e1',
      resourceVersion,
      generation: Number(resourceVersion) - 39,
      creationTimestamp: '2026-05-01T12:00:00Z',
    },
    spec: { targetRef: { kind: 'Service', name: 'checkout' }, limits: [{ name: 'per-minute', requests, interval: '60s' }] },
    status: {
      observedGeneration: Number(resourceVersion) - 39,
      conditions: [
        { type: 'Accepted', status: 'True', reason: 'Valid', message: 'The policy is valid.', lastTransitionTime: '2026-05-01T12:00:00Z' },
        {
          type: 'Programmed',
          status: rollout.acked === rollout.gateways ? 'True' : 'False',
          reason: rollout.acked === rollout.gateways ? 'AllGatewaysACKed' : 'Pending',
          message: `ACKed by ${rollout.acked} of ${rollout.gateways} gateways`,
          lastTransitionTime: '2026-05-01T12:00:00Z',
        },
        ...extraConditions,
      ],
      rollout: { revision: Number(resourceVersion), gateways: rollout.gateways, acked: rollout.acked, nacked: 0, pending: rollout.gateways - rollout.acked },
    },
  };
}

// The YAML the editor shows for it (apiVersion, kind, name, namespace, labels, spec):
//  9   targetRef:
// 11     name: checkout
// 14       requests: 100
const TARGET_NAME_LINE = 11;
const REQUESTS_LINE = 14;

function row(name: string, zone: string, appliedRevision: number): GatewayRow {
  return {
    id: name,
    name,
    namespace: 'default',
    zone,
    pool: 'edge',
    address: '127.0.0.1:1',
    version: '1',
    phase: 'Healthy',
    lastHeartbeat: '2026-05-01T12:00:00Z',
    appliedRevision,
    synced: true,
    transport: 'websocket',
    requestsPerSecond: 10,
    serverErrorPercent: 0,
    p99Ms: 5,
    openBreakers: 0,
    ejectedEndpoints: 0,
  };
}

const history = {
  items: [
    { revision: 40, type: 'ADDED', actor: 'admin', time: '2026-05-01T12:00:00Z', before: null, after: policy('40', 50, { acked: 2, gateways: 2 }) },
    { revision: 41, type: 'MODIFIED', actor: 'alice', time: '2026-05-01T12:05:00Z', before: policy('40', 50, { acked: 2, gateways: 2 }), after: policy('41', 5000, { acked: 2, gateways: 2 }) },
    { revision: 42, type: 'MODIFIED', actor: 'rollout-guard', time: '2026-05-01T12:06:00Z', before: policy('41', 5000, { acked: 2, gateways: 2 }), after: policy('42', 100, { acked: 2, gateways: 2 }) },
  ],
};

const rolledBackEvent: MeshEvent = {
  id: '000000000001',
  time: '2026-05-01T12:06:00Z',
  type: 'Warning',
  reason: 'RolledBack',
  regarding: { kind: 'RateLimitPolicy', namespace: 'default', name: 'checkout-limits' },
  source: 'rollout-guard',
  message: 'RateLimitPolicy default/checkout-limits rolled back: gateway gw-a1 rejected it',
};

function api(overrides: Route[] = []): Route[] {
  return [
    ...overrides,
    ['GET', OBJECT_PATH, () => policy('42', 100, { acked: 2, gateways: 2 })],
    ['GET', `${OBJECT_PATH}/history`, () => history],
    ['GET', '/v1/events', () => ({ apiVersion: 'v1', kind: 'EventList', items: [] })],
    ['GET', `${OBJECT_PATH}/rollout`, () => rolloutOf('42', 'acked')],
  ];
}

/** `GET …/rollout` as the control plane answers it: gw-a1 and gw-b1 run the policy. */
function rolloutOf(resourceVersion: string, outcome: 'acked' | 'pending'): PolicyRollout {
  const gateways = [
    { gateway: 'gw-a1', zone: 'zone-a', outcome, appliedRevision: outcome === 'acked' ? Number(resourceVersion) : Number(resourceVersion) - 1 },
    { gateway: 'gw-b1', zone: 'zone-b', outcome, appliedRevision: outcome === 'acked' ? Number(resourceVersion) : Number(resourceVersion) - 1 },
  ];
  const acked = outcome === 'acked' ? 2 : 0;
  return {
    kind: 'PolicyRollout',
    policy: { kind: 'RateLimitPolicy', namespace: 'default', name: 'checkout-limits' },
    revision: Number(resourceVersion),
    summary: { gateways: 2, acked, nacked: 0, pending: 2 - acked, zones: [], rejections: [] },
    gateways,
  };
}

/** The CodeMirror view of the page's editor, once it shows the stored policy. */
async function editorView(container: HTMLElement): Promise<EditorView> {
  await waitFor(() => expect(container.querySelector('.cm-content')?.textContent).toContain('checkout-limits'));
  const view = EditorView.findFromDOM(container.querySelector<HTMLElement>('.cm-editor')!);
  if (!view) throw new Error('no editor');
  return view;
}

/** Types over `from` with `to` in the editor, as one edit. */
function edit(view: EditorView, from: string, to: string) {
  const text = view.state.doc.toString();
  const index = text.indexOf(from);
  if (index < 0) throw new Error(`"${from}" is not in the editor`);
  act(() => view.dispatch({ changes: { from: index, to: index + from.length, insert: to }, userEvent: 'input.type' }));
}

function diagnosticsByLine(view: EditorView): Array<[number, string, string]> {
  const found: Array<[number, string, string]> = [];
  forEachDiagnostic(view.state, (diagnostic, from) => found.push([view.state.doc.lineAt(from).number, diagnostic.source ?? '', diagnostic.message]));
  return found;
}

const dryRuns = (requests: RecordedRequest[]) => requests.filter((request) => request.method === 'PUT' && request.url.searchParams.get('dryRun') === 'All');
const writes = (requests: RecordedRequest[]) => requests.filter((request) => request.method === 'PUT' && !request.url.searchParams.has('dryRun'));

afterEach(resetHarness);

describe('PolicyPage', () => {
  it('shows the server’s 422 causes at their lines, under the editor and in it', async () => {
    const user = userEvent.setup();
    const { container, requests } = renderPage(routes, '/policies/RateLimitPolicy/default/checkout-limits', {
      role: 'editor',
      api: api([
        [
          'PUT',
          OBJECT_PATH,
          () =>
            statusResponse(422, 'Invalid', 'RateLimitPolicy.mesh.portolan.dev "checkout-limits" is invalid', {
              name: 'checkout-limits',
              kind: 'RateLimitPolicy',
              causes: [
                { field: 'spec.limits[0].requests', reason: 'FieldValueInvalid', message: 'Invalid value: 100000: must be a multiple of the gateways' },
                { field: 'spec.targetRef.name', reason: 'FieldValueNotSupported', message: 'Unsupported value: "checkout": no Service of that name' },
              ],
            }),
        ],
      ]),
    });
    const view = await editorView(container);
    edit(view, 'requests: 100', 'requests: 100000');
    await user.click(screen.getByRole('button', { name: 'Preview' }));

    const errors = await screen.findAllByTestId('field-error');
    expect(errors.map((error) => error.textContent)).toEqual([
      `line ${REQUESTS_LINE}: spec.limits[0].requests: Invalid value: 100000: must be a multiple of the gateways`,
      `line ${TARGET_NAME_LINE}: spec.targetRef.name: Unsupported value: "checkout": no Service of that name`,
    ]);

    // What was sent: a server dry run of the edited YAML, conditional on the version it was loaded at.
    const [dryRun] = dryRuns(requests);
    expect(dryRun.contentType).toBe('application/yaml');
    const sent = parse(dryRun.body!);
    expect(sent.spec.limits[0].requests).toBe(100000);
    expect(sent.metadata).toEqual({ name: 'checkout-limits', namespace: 'default', labels: { team: 'payments' }, resourceVersion: '42' });
    expect(sent.status).toBeUndefined();

    // The same causes are lint diagnostics at those lines of the editor.
    await waitFor(() =>
      expect(diagnosticsByLine(view)).toEqual(
        expect.arrayContaining([
          [TARGET_NAME_LINE, 'server', 'spec.targetRef.name: Unsupported value: "checkout": no Service of that name'],
          [REQUESTS_LINE, 'server', 'spec.limits[0].requests: Invalid value: 100000: must be a multiple of the gateways'],
        ]),
      ),
    );
    // Nothing to apply after a refused preview.
    expect((screen.getByRole('button', { name: 'Apply' }) as HTMLButtonElement).disabled).toBe(true);
    expect(writes(requests)).toEqual([]);
  });

  it('marks a schema violation at its line while typing, before any request', async () => {
    const { container, requests } = renderPage(routes, '/policies/RateLimitPolicy/default/checkout-limits', { role: 'editor', api: api() });
    const view = await editorView(container);
    edit(view, 'requests: 100', 'requests: 0');
    const problem = await screen.findByTestId('problem');
    expect(problem.textContent).toBe(`line ${REQUESTS_LINE}: spec.limits[0].requests: Invalid value: 0: must be greater than or equal to 1`);
    await waitFor(() => expect(diagnosticsByLine(view).map(([line, source]) => [line, source])).toEqual([[REQUESTS_LINE, 'schema']]));
    expect(requests.filter((request) => request.method !== 'GET')).toEqual([]);
  });

  it('previews the blast radius and the diff, applies, and follows the rollout live', async () => {
    const user = userEvent.setup();
    let acked = 0;
    const blastRadius: BlastRadius = {
      gateways: 2,
      affected: 2,
      shapes: [
        { zone: 'zone-a', gateways: ['gw-a1'], changes: [{ route: 'default/checkout', path: 'rateLimit.limits[0].requests', before: 100, after: 200, setBy: 'RateLimitPolicy/default/checkout-limits' }] },
        { zone: 'zone-b', gateways: ['gw-b1'], changes: [{ route: 'default/checkout', path: 'rateLimit.limits[0].requests', before: 100, after: 200, setBy: 'RateLimitPolicy/default/checkout-limits' }] },
      ],
    };
    let written = false;
    let release!: () => void;
    const writeAnswered = new Promise<void>((resolve) => (release = resolve));
    const { container, requests, feed } = renderPage(routes, '/policies/RateLimitPolicy/default/checkout-limits', {
      role: 'editor',
      api: [
        [
          'PUT',
          OBJECT_PATH,
          async (request) => {
            const answer = policy(request.url.searchParams.has('dryRun') ? '42' : '43', 200, { acked: 0, gateways: 2 });
            if (request.url.searchParams.has('dryRun')) return { ...answer, status: { ...answer.status, blastRadius } };
            await writeAnswered;
            written = true;
            return answer;
          },
        ],
        ['GET', OBJECT_PATH, () => (written ? policy('43', 200, { acked, gateways: 2 }) : policy('42', 100, { acked: 2, gateways: 2 }))],
        ['GET', `${OBJECT_PATH}/rollout`, () => (written ? rolloutOf('43', acked === 2 ? 'acked' : 'pending') : rolloutOf('42', 'acked'))],
        ...api(),
      ],
    });
    const view = await editorView(container);
    expect(screen.getByTestId('rollout').textContent).toContain('2/2');
    edit(view, 'requests: 100', 'requests: 200');
    const apply = screen.getByRole('button', { name: 'Apply' }) as HTMLButtonElement;
    expect(apply.disabled).toBe(true);
    await user.click(screen.getByRole('button', { name: 'Preview' }));

    const radius = await screen.findByTestId('blast-radius');
    expect(radius.textContent).toContain('2 of 2 gateways would get a new configuration');
    expect(within(radius).getByText('zone-a')).toBeTruthy();
    const firstChange = within(radius).getAllByRole('row')[1];
    expect(within(firstChange).getAllByRole('cell').map((cell) => cell.textContent)).toEqual([
      'default/checkout',
      'rateLimit.limits[0].requests',
      '100',
      '200',
      'RateLimitPolicy/default/checkout-limits',
    ]);
    const diff = screen.getByRole('region', { name: 'Line diff' });
    expect([...diff.querySelectorAll('.pol-diff-delete')].map((line) => line.textContent)).toEqual([`${REQUESTS_LINE}-removed:       requests: 100`]);
    expect([...diff.querySelectorAll('.pol-diff-insert')].map((line) => line.textContent)).toEqual([`${REQUESTS_LINE}+added:       requests: 200`]);

    await waitFor(() => expect(apply.disabled).toBe(false));
    await user.click(apply);
    // Until the write answers, the previous revision's 2/2 must not read as this change's rollout.
    expect(screen.getByTestId('rollout').textContent).toBe('Applying the change…');
    release();
    await waitFor(() => expect(screen.getByTestId('rollout').textContent).toContain('0/2'));
    const [write] = writes(requests);
    expect(write.body).toBe(dryRuns(requests)[0].body);
    await waitFor(() =>
      expect((screen.getAllByTestId('gateway-rollout') as HTMLTableRowElement[]).map((gateway) => [gateway.cells[0].textContent, gateway.cells[2].textContent])).toEqual([
        ['gw-a1', 'Pending'],
        ['gw-b1', 'Pending'],
      ]),
    );

    // The gateways ACK: the feed's rows say so at once; the object's rollout count follows.
    acked = 2;
    feed().emit({ type: 'hello', user: 'tester', role: 'editor', revision: 43, slotMs: 5000 });
    feed().emit({ type: 'gateways', items: [row('gw-a1', 'zone-a', 43), row('gw-b1', 'zone-b', 43)] });
    feed().emit({ type: 'changed', revision: 43, objects: [{ kind: 'RateLimitPolicy', namespace: 'default', name: 'checkout-limits', change: 'STATUS' }] });
    await waitFor(() => expect(screen.getByTestId('rollout').textContent).toContain('2/2'));
    await waitFor(() =>
      expect((screen.getAllByTestId('gateway-rollout') as HTMLTableRowElement[]).map((gateway) => gateway.cells[2].textContent)).toEqual(['ACKed', 'ACKed']),
    );
  });

  it('gives a viewer the YAML read-only, without apply or rollback', async () => {
    const { container, requests } = renderPage(routes, '/policies/RateLimitPolicy/default/checkout-limits', { role: 'viewer', api: api() });
    await editorView(container);
    await screen.findAllByTestId('history-entry');
    expect(screen.queryByRole('button', { name: /apply/i })).toBeNull();
    expect(screen.queryByRole('button', { name: /roll back/i })).toBeNull();
    expect((screen.getByRole('button', { name: 'Preview' }) as HTMLButtonElement).disabled).toBe(true);
    expect(container.querySelector('.cm-content')!.getAttribute('aria-readonly')).toBe('true');
    expect(screen.getByText(/Read-only: your role \(viewer\)/)).toBeTruthy();
    expect(requests.filter((request) => request.method !== 'GET')).toEqual([]);
  });

  it('shows an automatic rollback and rolls back to an earlier revision after confirmation', async () => {
    const user = userEvent.setup();
    const degraded = {
      type: 'Degraded',
      status: 'True' as const,
      reason: 'RolledBack',
      message: 'RateLimitPolicy default/checkout-limits rolled back: gateway gw-a1 rejected it',
      lastTransitionTime: '2026-05-01T12:06:00Z',
    };
    const { requests } = renderPage(routes, '/policies/RateLimitPolicy/default/checkout-limits', {
      role: 'editor',
      api: [
        ['GET', OBJECT_PATH, () => policy('42', 100, { acked: 2, gateways: 2 }, [degraded])],
        ['GET', '/v1/events', () => ({ apiVersion: 'v1', kind: 'EventList', items: [rolledBackEvent] })],
        ['POST', `${OBJECT_PATH}/rollback`, () => policy('43', 50, { acked: 0, gateways: 2 })],
        ...api(),
      ],
    });
    expect((await screen.findByTestId('degraded')).textContent).toContain('gateway gw-a1 rejected it');
    expect((await screen.findByTestId('guard-event')).textContent).toContain('RolledBack');
    const events = requests.find((request) => request.url.pathname === '/v1/events')!;
    expect(Object.fromEntries(events.url.searchParams)).toMatchObject({ kind: 'RateLimitPolicy', namespace: 'default', name: 'checkout-limits', source: 'rollout-guard' });

    const entries = await screen.findAllByTestId('history-entry');
    expect(entries.map((entry) => entry.querySelector('.pol-revision')!.textContent)).toEqual(['revision 42', 'revision 41', 'revision 40']);
    expect(within(entries[0]).getByText('automatic rollback')).toBeTruthy();
    expect(within(entries[0]).queryByRole('button', { name: 'Roll back to this' })).toBeNull();

    await user.click(within(entries[2]).getByRole('button', { name: 'Roll back to this' }));
    const confirm = screen.getByRole('group', { name: 'Confirm the rollback to revision 40' });
    expect(confirm.querySelector('.pol-diff-insert')!.textContent).toContain('requests: 50');
    expect(requests.filter((request) => request.method === 'POST')).toEqual([]);
    await user.click(within(confirm).getByRole('button', { name: 'Roll back to revision 40' }));

    await screen.findByText('Rolled back to revision 40: now revision 43.');
    const [rollback] = requests.filter((request) => request.method === 'POST');
    expect(rollback.url.pathname).toBe(`${OBJECT_PATH}/rollback`);
    expect(JSON.parse(rollback.body!)).toEqual({ revision: 40 });
    await waitFor(() => expect(screen.getByTestId('rollout').textContent).toContain('0/2'));
  });

  it('explains a policy the rollout guard deleted, and offers to restore it', async () => {
    renderPage(routes, '/policies/RateLimitPolicy/default/checkout-limits', {
      role: 'editor',
      api: [
        ['GET', OBJECT_PATH, () => statusResponse(404, 'NotFound', 'ratelimitpolicies.mesh.portolan.dev "checkout-limits" not found')],
        [
          'GET',
          `${OBJECT_PATH}/history`,
          () => ({
            items: [
              history.items[0],
              { revision: 43, type: 'DELETED', actor: 'rollout-guard', time: '2026-05-01T12:07:00Z', before: history.items[0].after, after: null },
            ],
          }),
        ],
        ['GET', '/v1/events', () => ({ apiVersion: 'v1', kind: 'EventList', items: [{ ...rolledBackEvent, message: 'RateLimitPolicy default/checkout-limits deleted: gateway gw-a1 rejected it' }] })],
        ...api(),
      ],
    });
    expect((await screen.findByRole('alert')).textContent).toContain('not found');
    expect((await screen.findByTestId('guard-event')).textContent).toContain('deleted: gateway gw-a1 rejected it');
    const entries = await screen.findAllByTestId('history-entry');
    expect(within(entries[0]).getByText('automatic rollback')).toBeTruthy();
    expect(within(entries[0]).queryByRole('button', { name: 'Roll back to this' })).toBeNull();
    expect(within(entries[1]).getByRole('button', { name: 'Roll back to this' })).toBeTruthy();
  });

  it('creates a new policy with a POST to the namespace collection', async () => {
    const user = userEvent.setup();
    const { container, requests, router } = renderPage(routes, '/policies/new?kind=TimeoutPolicy', {
      role: 'editor',
      api: [
        [
          'POST',
          '/apis/mesh.portolan.dev/v1alpha1/namespaces/shop/timeoutpolicies',
          (request) => ({
            ...(parse(request.body!) as object),
            metadata: { name: 'shop-timeouts', namespace: 'shop', resourceVersion: '7' },
            status: request.url.searchParams.has('dryRun') ? { blastRadius: { gateways: 6, affected: 0, shapes: [] } } : { rollout: { gateways: 0, acked: 0, nacked: 0 } },
          }),
        ],
        ['GET', '/apis/mesh.portolan.dev/v1alpha1/namespaces/shop/timeoutpolicies/shop-timeouts', () => ({ ...policy('7', 1, { acked: 0, gateways: 0 }), kind: 'TimeoutPolicy', metadata: { name: 'shop-timeouts', namespace: 'shop', resourceVersion: '7' }, spec: { targetRef: { kind: 'Mesh' } } })],
        ['GET', /history$/, () => ({ items: [] })],
        ...api(),
      ],
    });
    await waitFor(() => expect(container.querySelector('.cm-content')?.textContent).toContain('kind: TimeoutPolicy'));
    const view = EditorView.findFromDOM(container.querySelector<HTMLElement>('.cm-editor')!)!;
    edit(view, 'name: my-timeout', 'name: shop-timeouts');
    edit(view, 'namespace: default', 'namespace: shop');
    await user.click(screen.getByRole('button', { name: 'Preview' }));
    expect((await screen.findByTestId('blast-radius')).textContent).toContain('0 of 6 gateways');
    await user.click(screen.getByRole('button', { name: 'Apply' }));
    await waitFor(() => expect(router.state.location.pathname).toBe('/policies/TimeoutPolicy/shop/shop-timeouts'));
    const posts = requests.filter((request) => request.method === 'POST');
    expect(posts.map((request) => request.url.search)).toEqual(['?fieldManager=portolan-dashboard&dryRun=All', '?fieldManager=portolan-dashboard']);
    expect(parse(posts[1].body!).metadata).toEqual({ name: 'shop-timeouts', namespace: 'shop' });
  });
});
