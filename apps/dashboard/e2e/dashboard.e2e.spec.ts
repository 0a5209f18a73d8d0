// @vitest-environment node
/**
 * The dashboard in real headless Chromium against the local mesh (`npm start`'s mesh: six
 * gateways in three zones, traffic flowing, the examples applied). One mesh and one browser for
 * the file; the tests run in order as an operator's session would. Each saves a screenshot under
 * .test-results/screenshots (CI artifacts).
 */
import type { Page } from 'playwright-core';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowser, type Browser } from './support/browser';
import { startLocalMesh, type RunningMesh } from './support/local-mesh';

const ZONES = ['zone-a', 'zone-b', 'zone-c'];
/** Generous safety bound for what the UI must show; the mesh itself answers in milliseconds. */
const UI_TIMEOUT = 30_000;

let mesh: RunningMesh;
let browser: Browser;
let page: Page;

/** The example RateLimitPolicy as an operator would paste it, with `requests` set to the given text (line 16). */
function rateLimitYaml(requests: string): string {
  return [
    'apiVersion: mesh.portolan.dev/v1alpha1',
    'kind: RateLimitPolicy',
    'metadata:',
    '  name: checkout-limits',
    '  namespace: default',
    '  labels:',
    '    team: payments',
    'spec:',
    '  targetRef:',
    '    kind: Service',
    '    name: checkout',
    '  scope: gateway',
    '  key:',
    '    type: none',
    '  limits:',
    '    - name: per-minute',
    `      requests: ${requests}`,
    '      interval: 60s',
    '      burst: 100',
    '  onLimit:',
    '    statusCode: 429',
    '',
  ].join('\n');
}
const REQUESTS_LINE = 17;

async function replaceEditorText(text: string): Promise<void> {
  const editor = page.locator('.cm-content').first();
  await editor.click();
  await page.keyboard.press('Control+A');
  // As a paste: one insertion, so the editor's auto-indent does not re-indent the lines.
  await page.keyboard.insertText(text);
}

beforeAll(async () => {
  mesh = await startLocalMesh();
  browser = await openBrowser();
  page = browser.page;
}, 200_000);

afterAll(async () => {
  await browser?.close();
  await mesh?.stop();
}, 60_000);

describe('the operator dashboard', () => {
  it('signs in with a token and shows the live overview with a card per zone', async () => {
    await page.goto(`${mesh.apiUrl}/ui/`);
    await page.getByLabel('API token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent(), { timeout: UI_TIMEOUT }).toContain('not valid');

    await page.getByLabel('API token').fill(mesh.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor({ timeout: UI_TIMEOUT });
    await expect.poll(() => page.getByTestId('live-indicator').textContent(), { timeout: UI_TIMEOUT }).toContain('Live');
    await expect.poll(() => page.getByTestId('signed-in-user').textContent()).toContain('admin');
    for (const zone of ZONES) await page.locator(`[data-testid="zone-card"][data-zone="${zone}"]`).waitFor({ timeout: UI_TIMEOUT });
    // Traffic numbers arrive with the first slot the gateways report in.
    await expect
      .poll(() => page.locator('[data-testid="zone-card"][data-zone="zone-a"] .stat .value').first().textContent(), { timeout: UI_TIMEOUT })
      .toMatch(/^\d/);
    await browser.screenshot('01-overview');
    // Readable on a wide screen too.
    await page.setViewportSize({ width: 1920, height: 1080 });
    await browser.screenshot('01-overview-1920');
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  it('lists the gateways of all three zones, filterable by zone', async () => {
    await page.getByRole('link', { name: 'Gateways', exact: true }).click();
    await expect.poll(async () => new Set(await page.getByTestId('gateway-row').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-zone')))), { timeout: UI_TIMEOUT }).toEqual(new Set(ZONES));
    await page.getByRole('combobox', { name: 'Zone' }).selectOption('zone-b');
    await expect.poll(async () => new Set(await page.getByTestId('gateway-row').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-zone'))))).toEqual(new Set(['zone-b']));
    expect(page.url()).toContain('zone=zone-b');
    await browser.screenshot('02-gateways');
  });

  it('shows a server field error at its line for an invalid policy', async () => {
    await page.goto(`${mesh.apiUrl}/ui/policies/RateLimitPolicy/default/checkout-limits`);
    await page.locator('.cm-content').first().waitFor({ timeout: UI_TIMEOUT });
    await replaceEditorText(rateLimitYaml('-5'));
    await page.getByRole('button', { name: /preview/i }).click();
    const error = page.getByTestId('field-error').first();
    await error.waitFor({ timeout: UI_TIMEOUT });
    const text = (await error.textContent()) ?? '';
    expect(text).toContain(`line ${REQUESTS_LINE}`);
    expect(text).toContain('spec.limits[0].requests');
    await browser.screenshot('03-policy-invalid');
  });

  it('applies a valid change and watches its rollout reach every gateway', async () => {
    await replaceEditorText(rateLimitYaml('50'));
    await page.getByRole('button', { name: /preview/i }).click();
    await page.getByRole('button', { name: /apply/i }).click();
    await expect
      .poll(
        async () => {
          const match = /(\d+)\s*\/\s*(\d+)/.exec((await page.getByTestId('rollout').first().textContent()) ?? '');
          return match !== null && Number(match[2]) >= 6 && match[1] === match[2];
        },
        { timeout: UI_TIMEOUT },
      )
      .toBe(true);
    await browser.screenshot('04-policy-rollout');
  });

  it('opens a trace waterfall from the traces page', async () => {
    await page.getByRole('link', { name: 'Traces', exact: true }).click();
    // The gateways' traces: a request span with the upstream try under it (the control plane's own are single spans).
    await page.getByRole('combobox', { name: 'Service' }).selectOption('portolan-gateway', { timeout: UI_TIMEOUT });
    // Searching again until the first traces of the generated traffic have arrived.
    await expect
      .poll(
        async () => {
          await page.getByRole('button', { name: /search/i }).click();
          return page.getByTestId('trace-result').count();
        },
        { timeout: UI_TIMEOUT, interval: 1000 },
      )
      .toBeGreaterThan(0);
    await page.getByTestId('trace-result').first().click();
    await page.getByTestId('waterfall').waitFor({ timeout: UI_TIMEOUT });
    // The gateway's span and the upstream's, at least.
    await expect.poll(() => page.getByTestId('span-row').count(), { timeout: UI_TIMEOUT }).toBeGreaterThanOrEqual(2);
    await browser.screenshot('05-trace-waterfall');
  });

  it('charts traffic per zone and per service, and shows the autoscaling policy against its target', async () => {
    await page.getByRole('link', { name: 'Metrics', exact: true }).click();
    // uPlot draws on a canvas once a zone has points (history, then the live feed).
    await page.locator('[data-testid="zone-metrics"] canvas').first().waitFor({ timeout: UI_TIMEOUT });
    expect(await page.getByTestId('zone-metrics').count()).toBe(3);
    await browser.screenshot('06-metrics-zones');
    await page.goto(`${mesh.apiUrl}/ui/metrics?by=service`);
    await page.locator('[data-testid="service-metrics"] canvas').first().waitFor({ timeout: UI_TIMEOUT });
    expect(await page.getByTestId('service-metrics').first().textContent()).toContain('default/checkout');
    await browser.screenshot('07-metrics-services');

    await page.getByRole('link', { name: 'Autoscaling', exact: true }).click();
    const policy = page.getByTestId('autoscale-policy').first();
    await policy.waitFor({ timeout: UI_TIMEOUT });
    await expect.poll(() => policy.getByTestId('replicas').textContent(), { timeout: UI_TIMEOUT }).toMatch(/\d/);
    await browser.screenshot('08-autoscaling');
  });

  it('taps a gateway and shows the requests passing through it', async () => {
    await page.getByRole('link', { name: 'Gateways', exact: true }).click();
    await page.getByRole('combobox', { name: 'Zone' }).selectOption('zone-a');
    await page.getByTestId('gateway-row').first().getByRole('link').click();
    await page.getByRole('heading', { name: /Effective configuration/ }).waitFor({ timeout: UI_TIMEOUT });
    await page.getByRole('button', { name: 'Start tap' }).click();
    // The tap reaches the gateway with its next heartbeat; the local mesh sends traffic all along.
    const tapped = page.getByTestId('tapped-request').first();
    await tapped.waitFor({ timeout: UI_TIMEOUT });
    expect(await tapped.textContent()).toMatch(/GET\/checkout/);
    await browser.screenshot('09-gateway-tap');
    await page.getByRole('button', { name: 'Stop tap' }).click();
  });

  it('drains a zone and shows the failover event with its timing, then undrains it', async () => {
    await page.getByRole('link', { name: 'Failover', exact: true }).click();
    await page.getByRole('button', { name: 'Drain zone-c…' }).click();
    await page.getByLabel('Reason').fill('dashboard e2e maintenance');
    await page.getByRole('button', { name: 'Confirm drain of zone-c' }).click();
    await page.getByTestId('drain-answer').waitFor({ timeout: UI_TIMEOUT });
    const drained = page.locator('[data-testid="event"][data-reason="ZoneDrained"]').first();
    await drained.waitFor({ timeout: UI_TIMEOUT });
    expect(await drained.textContent()).toContain('zone-c');
    expect(await drained.getByTestId('failover-timing').textContent()).toMatch(/traffic moved in \d/);
    await expect.poll(() => page.locator('[data-testid="zone-row"][data-zone="zone-c"]').textContent(), { timeout: UI_TIMEOUT }).toContain('Drained');
    await browser.screenshot('10-failover-drained');

    await page.getByRole('button', { name: 'Undrain zone-c' }).click();
    await page.locator('[data-testid="event"][data-reason="ZoneUndrained"]').first().waitFor({ timeout: UI_TIMEOUT });
    await expect.poll(() => page.locator('[data-testid="zone-row"][data-zone="zone-c"]').textContent(), { timeout: UI_TIMEOUT }).toContain('Serving');
  });

  it('offers a viewer no control that writes', async () => {
    // An admin mints a viewer token (the API, as an operator would with curl).
    const minted = await request(`${mesh.apiUrl}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${mesh.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'e2e-viewer', role: 'viewer' }),
      dispatcher: new Agent({ connect: { ca: mesh.caPem } }),
    });
    expect(minted.statusCode).toBe(201);
    const { token } = (await minted.body.json()) as { token: string };
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByTestId('signed-in-user').textContent(), { timeout: UI_TIMEOUT }).toContain('viewer');

    await page.goto(`${mesh.apiUrl}/ui/policies/RateLimitPolicy/default/checkout-limits`);
    await page.locator('.cm-content').first().waitFor({ timeout: UI_TIMEOUT });
    await page.getByTestId('rollout').first().waitFor({ timeout: UI_TIMEOUT });
    expect(await page.getByRole('button', { name: /^apply$/i }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /roll back/i }).count()).toBe(0);
    expect(await page.locator('.cm-content').first().getAttribute('aria-readonly')).toBe('true');

    await page.getByRole('link', { name: 'Failover', exact: true }).click();
    await page.locator('[data-testid="zone-row"][data-zone="zone-a"]').waitFor({ timeout: UI_TIMEOUT });
    expect(await page.getByRole('button', { name: /drain/i }).count()).toBe(0);
    await browser.screenshot('11-viewer-failover');
  });

  it('logged no console errors on any page, besides the refusals the tests provoked', () => {
    // Chromium logs every non-2xx fetch; these two were asked for: a wrong token, an invalid dry run.
    const provoked = [/status of 401 .*\/v1\/whoami\)$/, /status of 422 .*dryRun=All/];
    expect(browser.consoleErrors.filter((error) => !provoked.some((pattern) => pattern.test(error)))).toEqual([]);
  });
});
