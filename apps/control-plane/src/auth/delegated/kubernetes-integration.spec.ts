import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { startKubernetesIntegration } from './kubernetes-integration';
import { testCertificateAuthority, testClientCertificate } from './testing/test-certificates';

const ca = testCertificateAuthority('Portolan control plane CA');
const leaf = testClientCertificate(ca, 'portolan-control-plane', { usage: 'serverAuth' });
const serving = { caPem: ca.certPem, certPem: leaf.certPem, keyPem: leaf.keyPem };

function capture() {
  const lines: Array<Record<string, any>> = [];
  return { lines, logger: pino(new Writable({ write: (chunk, _encoding, done) => (lines.push(JSON.parse(String(chunk))), done()) })) };
}

describe('startKubernetesIntegration', () => {
  it('does nothing and asks no client for a certificate when both settings are off', () => {
    const { lines, logger } = capture();
    const integration = startKubernetesIntegration({ authentication: 'off' }, serving, logger);
    expect(integration.delegation).toBeUndefined();
    expect(integration.tlsOptions).toEqual({});
    integration.attach({ setSecureContext: () => expect.unreachable('the TLS context must stay as it is') } as never);
    integration.close();
    expect(lines).toEqual([]);
  });

  it('stops the start when delegation is asked for and no Kubernetes API can be configured, naming the setting and the file', () => {
    const { logger } = capture();
    expect(() => startKubernetesIntegration({ authentication: 'delegated', kubeconfigFile: '/nonexistent/kubeconfig' }, serving, logger)).toThrow(
      /^PORTOLAN_KUBERNETES_AUTH=delegated needs the Kubernetes API: cannot read PORTOLAN_KUBECONFIG \/nonexistent\/kubeconfig/,
    );
  });

  it('starts anyway when only the APIService caBundle cannot reach a Kubernetes API, and says why', () => {
    const { lines, logger } = capture();
    const integration = startKubernetesIntegration({ authentication: 'off', apiServiceName: 'v1alpha1.mesh.portolan.dev', kubeconfigFile: '/nonexistent/kubeconfig' }, serving, logger);
    expect(integration.tlsOptions).toEqual({});
    integration.attach({ setSecureContext: () => undefined } as never);
    integration.close();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, apiService: 'v1alpha1.mesh.portolan.dev', msg: expect.stringContaining('cannot keep spec.caBundle of APIService v1alpha1.mesh.portolan.dev current: cannot read PORTOLAN_KUBECONFIG /nonexistent/kubeconfig') });
  });
});
