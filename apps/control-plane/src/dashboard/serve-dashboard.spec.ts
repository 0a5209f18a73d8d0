/**
 * The dashboard as a started control plane serves it: a built dashboard in a temporary directory
 * (PORTOLAN_DASHBOARD_DIR) under /ui/ without a token, next to the API, which it leaves alone.
 */
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcessControlPlane } from '../../test/support/in-process';

const INDEX = '<!doctype html><html><body><div id="root"></div><script type="module" src="/ui/assets/x.js"></script></body></html>\n';
const SCRIPT = 'console.log("dashboard");\n';

describe('the dashboard under /ui/', () => {
  let cp: InProcessControlPlane;
  let dir: string;
  const anonymous = () => cp.client.withToken(undefined);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portolan-dashboard-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), INDEX);
    writeFileSync(join(dir, 'assets', 'x.js'), SCRIPT);
    cp = await startInProcess({ PORTOLAN_DASHBOARD_DIR: dir });
  });
  afterAll(async () => {
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(['/ui/', '/ui/gateways/foo/bar', '/ui/policies?kind=RateLimitPolicy'])('answers index.html, revalidated on every load, to %s without a token', async (path) => {
    const response = await anonymous().call('GET', path);
    expect(response.status).toBe(200);
    expect(response.body).toBe(INDEX);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.headers['cache-control']).toBe('no-cache');
    // The token lives in the page: only its own scripts run, talking only to this origin.
    expect(response.headers['content-security-policy']).toContain("script-src 'self'");
    expect(response.headers['content-security-policy']).toContain("connect-src 'self'");
    expect(response.headers['x-frame-options']).toBe('DENY');
  });

  it.each(['/ui/../../etc/passwd', '/ui/%2e%2e/%2e%2e/package.json', '/ui/.env', '/ui/..%2fcontrol-plane.ts'])('never serves a file outside the dashboard for %s', async (path) => {
    const response = await anonymous().call('GET', path);
    expect(typeof response.body === 'string' ? response.body : JSON.stringify(response.body)).not.toMatch(/root:|"name": "@portolan|PORTOLAN_|import /);
    if (response.status === 200) expect(response.body).toBe(INDEX);
  });

  it('serves the hashed assets for good', async () => {
    const response = await anonymous().call('GET', '/ui/assets/x.js');
    expect(response.status).toBe(200);
    expect(response.body).toBe(SCRIPT);
    expect(response.headers['content-type']).toMatch(/javascript/);
    expect(response.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  });

  it('answers a missing asset with 404 rather than the page', async () => {
    const response = await anonymous().call('GET', '/ui/assets/gone-1234.js');
    expect(response.status).toBe(404);
    expect(response.body).toMatchObject({ kind: 'Status', code: 404, message: expect.stringContaining('reload') });
  });

  it.each(['/', '/ui'])('redirects %s to /ui/', async (path) => {
    const response = await anonymous().call('GET', path);
    expect(response.status).toBe(302);
    expect(response.headers.location).toBe('/ui/');
  });

  it('leaves the API and the kubectl discovery paths as they were, and adds no route to the API', async () => {
    expect((await anonymous().call('GET', '/version')).status).toBe(200);
    expect((await anonymous().call('GET', '/api')).status).toBe(401);
    expect((await cp.client.call('GET', '/api')).body).toMatchObject({ kind: 'APIVersions' });
    expect((await cp.client.call('GET', '/apis')).body).toMatchObject({ kind: 'APIGroupList' });
    expect((await anonymous().call('GET', '/v1/zones')).status).toBe(401);
    expect(cp.running.routes.filter((route) => route.includes('/ui') || route === 'GET /')).toEqual([]);
  });

  it('says how to build the dashboard when the directory has no index.html, and the API keeps working', async () => {
    unlinkSync(join(dir, 'index.html'));
    const response = await anonymous().call('GET', '/ui/');
    expect(response.status).toBe(404);
    expect(response.body).toMatchObject({ kind: 'Status', code: 404, reason: 'NotFound' });
    expect(response.body.message).toContain('npm run build');
    expect(response.body.message).toContain('PORTOLAN_DASHBOARD_DIR');
    expect(response.body.message).not.toContain(dir);
    expect((await cp.client.call('GET', '/v1/zones')).status).toBe(200);
  });
});
