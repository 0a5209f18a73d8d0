/**
 * Reading ConfigMap kube-system/extension-apiserver-authentication through the real client from a
 * Kubernetes API double: the first read, a refresh that follows a CA rotation, and the RBAC the
 * control plane lacks named in the log.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AuthenticationConfigMap } from './authentication-configmap';
import { KubernetesDelegationClient } from './kubernetes-client';
import { KubernetesAuthApiDouble } from './testing/kubernetes-auth-api-double';
import { testCertificateAuthority } from './testing/test-certificates';

const frontProxyCa = testCertificateAuthority('front-proxy-ca');
const data = {
  'requestheader-allowed-names': '["front-proxy-client"]',
  'requestheader-client-ca-file': frontProxyCa.certPem,
  'requestheader-extra-headers-prefix': '["X-Remote-Extra-"]',
  'requestheader-group-headers': '["X-Remote-Group"]',
  'requestheader-username-headers': '["X-Remote-User"]',
};

let double: KubernetesAuthApiDouble;
let dir: string;
let source: AuthenticationConfigMap | undefined;
let logs: Array<Record<string, any>>;

function start(options = {}) {
  logs = [];
  const logger = pino({ level: 'debug' }, new Writable({ write: (chunk, _encoding, done) => (logs.push(JSON.parse(String(chunk))), done()) }));
  source = new AuthenticationConfigMap(KubernetesDelegationClient.connect({ kubeconfigFile: join(dir, 'kubeconfig') }), logger, options);
  return source;
}

beforeEach(async () => {
  double = await KubernetesAuthApiDouble.start();
  dir = mkdtempSync(join(tmpdir(), 'portolan-authn-'));
  double.writeKubeconfig(join(dir, 'kubeconfig'));
});
afterEach(async () => {
  source?.close();
  await double.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the extension-apiserver-authentication ConfigMap', () => {
  it('is read at start, and logged without certificate bodies', async () => {
    double.authenticationConfigMap = data;
    const configMap = start();
    await configMap.start();
    expect(configMap.current()?.frontProxy).toMatchObject({ allowedNames: ['front-proxy-client'], usernameHeaders: ['X-Remote-User'] });
    expect(logs.find((line) => line.msg.includes('front-proxy configuration read'))).toMatchObject({ requestheaderClientCa: ['CN=front-proxy-ca'], allowedNames: ['front-proxy-client'] });
    expect(JSON.stringify(logs)).not.toContain('BEGIN CERTIFICATE');
  });

  it('is read again periodically, so a rotated CA or a changed allowed-names list is followed', async () => {
    double.authenticationConfigMap = data;
    const configMap = start({ refreshIntervalMs: 30 });
    const seen: string[][] = [];
    configMap.onChange((config) => seen.push(config.frontProxy!.allowedNames));
    await configMap.start();
    const rotated = testCertificateAuthority('front-proxy-ca-2');
    double.authenticationConfigMap = { ...data, 'requestheader-client-ca-file': rotated.certPem, 'requestheader-allowed-names': '["aggregator"]' };
    await vi.waitFor(() => expect(configMap.current()?.frontProxy?.caPem).toBe(rotated.certPem), { timeout: 5000, interval: 20 });
    expect(seen).toEqual([['front-proxy-client'], ['aggregator']]);
  });

  it('names the Role to bind when the control plane may not read it, and keeps retrying', async () => {
    double.authenticationConfigMap = data;
    double.withheld.add('get configmaps');
    const configMap = start({ firstRetryMs: 30 });
    await configMap.start();
    expect(configMap.current()).toBeUndefined();
    expect(configMap.pendingReason()).toContain('cannot read ConfigMap kube-system/extension-apiserver-authentication');
    const failure = logs.find((line) => line.level === 50)!;
    expect(failure.err.message).toContain('needs the RBAC rule apiGroups: [""], resources: ["configmaps"], resourceNames: ["extension-apiserver-authentication"], verbs: ["get"] in namespace kube-system');
    double.withheld.delete('get configmaps');
    await vi.waitFor(() => expect(configMap.current()?.frontProxy).toBeDefined(), { timeout: 5000, interval: 20 });
  });

  it('keeps the configuration read before when a later read fails', async () => {
    double.authenticationConfigMap = data;
    const configMap = start({ refreshIntervalMs: 30 });
    await configMap.start();
    double.authenticationConfigMap = { ...data, 'requestheader-allowed-names': 'front-proxy-client' };
    await vi.waitFor(() => expect(logs.some((line) => line.level === 40 && line.msg.includes('keeping the configuration read before'))).toBe(true), { timeout: 5000, interval: 20 });
    expect(configMap.current()?.frontProxy?.allowedNames).toEqual(['front-proxy-client']);
  });
});
