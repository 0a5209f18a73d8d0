/**
 * The operator's CA (PORTOLAN_TLS_CA_CERT_FILE / _KEY_FILE): the control plane serves a certificate
 * it signed, so the real kubectl trusts the API with nothing but that CA, and a wrong pair of files
 * stops the start with an error naming them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { readBootConfig } from '../src/config/boot-config';
import { startControlPlane } from '../src/control-plane';
import { createCertificateAuthority } from '../src/tls/certificates';
import { makeDataDir, removeDataDir } from './support/control-plane-process';
import { startInProcess, type InProcessControlPlane } from './support/in-process';
import { kubectlRunner } from './support/kubectl';

const files = makeDataDir('portolan-operator-ca-');
const operatorCa = createCertificateAuthority();
const certFile = join(files, 'ca.crt');
const keyFile = join(files, 'ca.key');
writeFileSync(certFile, operatorCa.certPem);
writeFileSync(keyFile, operatorCa.keyPem, { mode: 0o600 });

let controlPlane: InProcessControlPlane;
beforeAll(async () => {
  controlPlane = await startInProcess({ PORTOLAN_TLS_CA_CERT_FILE: certFile, PORTOLAN_TLS_CA_KEY_FILE: keyFile });
});
afterAll(async () => {
  await controlPlane?.stop();
  removeDataDir(files);
});

describe('the operator\'s CA', () => {
  it('signs the API\'s certificate: kubectl trusting only that CA reaches the API', async () => {
    expect(controlPlane.running.caPem).toBe(operatorCa.certPem);
    // The operator's kubeconfig points at their own CA file, not at anything the control plane wrote.
    const kubeconfig = join(files, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'portolan', cluster: { server: controlPlane.running.apiUrl, 'certificate-authority': certFile } }],
        users: [{ name: 'admin', user: { token: controlPlane.adminToken } }],
        contexts: [{ name: 'portolan', context: { cluster: 'portolan', user: 'admin' } }],
        'current-context': 'portolan',
      }),
    );
    const kubectl = kubectlRunner(kubeconfig);
    const applied = await kubectl(['apply', '-f', '-'], 'apiVersion: mesh.portolan.dev/v1alpha1\nkind: TimeoutPolicy\nmetadata:\n  name: trusted\nspec:\n  targetRef:\n    kind: Mesh\n  requestTimeout: 5s\n');
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toContain('timeoutpolicy.mesh.portolan.dev/trusted created');
    // The generated kubeconfig embeds the same CA, and no CA key is kept in the data directory.
    expect(readFileSync(join(controlPlane.dataDir, 'tls', 'ca.crt'), 'utf8')).toBe(operatorCa.certPem);
    expect(() => readFileSync(join(controlPlane.dataDir, 'tls', 'ca.key'))).toThrow(/ENOENT/);
  });

  it('is refused at start when the key does not belong to the certificate, naming both files', async () => {
    const otherKey = join(files, 'other.key');
    writeFileSync(otherKey, createCertificateAuthority().keyPem);
    const dataDir = makeDataDir();
    try {
      const config = readBootConfig({ PORTOLAN_DATA_DIR: dataDir, PORTOLAN_API_PORT: '0', PORTOLAN_OPS_PORT: '0', PORTOLAN_TLS_CA_CERT_FILE: certFile, PORTOLAN_TLS_CA_KEY_FILE: otherKey });
      await expect(startControlPlane(config)).rejects.toThrow(`PORTOLAN_TLS_CA_CERT_FILE=${certFile}, PORTOLAN_TLS_CA_KEY_FILE=${otherKey}: the CA key does not belong to the CA certificate`);
    } finally {
      removeDataDir(dataDir);
    }
  });
});
