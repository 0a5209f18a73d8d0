/**
 * The states of delegated authentication a cluster can be in that the end-to-end spec does not
 * reach: the ConfigMap not read yet, and a kube-apiserver with no front proxy at all; and how a
 * Kubernetes user is named in history and logs. (The
 * verified front proxy, impostors, RBAC answers and outages are in
 * test/kubernetes-delegation.e2e.spec.ts, over real TLS.)
 */
import type { IncomingMessage } from 'node:http';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../errors/api-error';
import type { DelegationApi } from './kubernetes-client';
import { KubernetesDelegation, kubernetesPrincipal } from './kubernetes-delegation';
import { testCertificateAuthority } from './testing/test-certificates';

const silent = pino({ level: 'silent' });

function api(configMap: () => Promise<Record<string, string>>): DelegationApi & { reviews: number } {
  const fake = {
    describe: 'a fake Kubernetes API',
    reviews: 0,
    readConfigMap: configMap,
    createSubjectAccessReview: async () => {
      fake.reviews++;
      return { allowed: true };
    },
    readApiService: async () => ({}),
    patchApiServiceCaBundle: async () => undefined,
  };
  return fake;
}

/** A request as Node hands it over: headers kept apart, on a socket without a client certificate. */
function requestWith(headers: Record<string, string[]>): IncomingMessage {
  return { headersDistinct: headers, socket: {} } as unknown as IncomingMessage;
}

function refusal(action: () => unknown): { code: number; message: string } {
  try {
    action();
  } catch (error) {
    if (error instanceof ApiError) return { code: error.status.code!, message: error.status.message! };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('KubernetesDelegation.authenticate', () => {
  it('leaves requests that name no user to bearer tokens, whatever state it is in', async () => {
    const delegation = new KubernetesDelegation(api(() => Promise.reject(new Error('ECONNREFUSED'))), silent);
    await delegation.start();
    expect(delegation.authenticate(requestWith({ authorization: ['Bearer t'] }))).toBeUndefined();
    delegation.close();
  });

  it('answers 503 to a request naming a user until the ConfigMap has been read, saying why', async () => {
    const delegation = new KubernetesDelegation(api(() => Promise.reject(new Error('connect ECONNREFUSED 10.96.0.1:443'))), silent);
    await delegation.start();
    const refused = refusal(() => delegation.authenticate(requestWith({ 'x-remote-user': ['jane'] })));
    expect(refused.code).toBe(503);
    expect(refused.message).toContain('delegated authentication is not ready: cannot read ConfigMap kube-system/extension-apiserver-authentication: connect ECONNREFUSED 10.96.0.1:443');
    delegation.close();
  });

  it('answers 401 to every request naming a user when kube-apiserver has no front proxy', async () => {
    const delegation = new KubernetesDelegation(api(async () => ({})), silent);
    await delegation.start();
    const refused = refusal(() => delegation.authenticate(requestWith({ 'x-remote-user': ['jane'] })));
    expect(refused.code).toBe(401);
    expect(refused.message).toContain('the request came without a TLS client certificate');
    delegation.close();
  });
});

describe('KubernetesDelegation.authorize', () => {
  it('refuses what an APIService never routes here without asking the cluster', async () => {
    const fake = api(async () => ({}));
    const delegation = new KubernetesDelegation(fake, silent);
    await expect(delegation.authorize({ name: 'jane', groups: [], extra: {} }, 'DELETE', '/v1/tokens/abc')).rejects.toMatchObject({
      status: { code: 403, message: expect.stringContaining('DELETE /v1/tokens/abc is for Portolan bearer tokens') },
    });
    await expect(delegation.authorize({ name: 'jane', groups: [], extra: {} }, 'POST', '/apis/apps/v1/namespaces/default/deployments')).rejects.toMatchObject({ status: { code: 403 } });
    expect(fake.reviews).toBe(0);
  });
});

describe('KubernetesDelegation.notReadyReason (for /readyz)', () => {
  it('says why until the ConfigMap has been read, and nothing after', async () => {
    let reachable = false;
    const delegation = new KubernetesDelegation(
      api(() => (reachable ? Promise.resolve({}) : Promise.reject(new Error('connect ECONNREFUSED 10.96.0.1:443')))),
      silent,
      { configMap: { firstRetryMs: 10 } },
    );
    expect(delegation.notReadyReason()).toContain('is reading ConfigMap kube-system/extension-apiserver-authentication');
    await delegation.start();
    expect(delegation.notReadyReason()).toBe(
      'delegated authentication (PORTOLAN_KUBERNETES_AUTH=delegated) has not read ConfigMap kube-system/extension-apiserver-authentication yet: cannot read ConfigMap kube-system/extension-apiserver-authentication: connect ECONNREFUSED 10.96.0.1:443; until it has, every request kube-apiserver proxies is answered 503',
    );
    reachable = true;
    for (let waited = 0; delegation.notReadyReason() !== undefined && waited < 2000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(delegation.notReadyReason()).toBeUndefined();
    delegation.close();
  });
});

describe('KubernetesDelegation.advertiseFrontProxyCa', () => {
  const serving = { keyPem: 'key', certPem: 'cert' };
  const frontProxyCa = testCertificateAuthority('front-proxy-ca');
  const agentCa = testCertificateAuthority('portolan agent CA');

  it.each<[string, Record<string, string>, string | undefined, string[] | undefined]>([
    ['the front-proxy CA alone', { 'requestheader-client-ca-file': frontProxyCa.certPem }, undefined, [frontProxyCa.certPem]],
    ['the agent CA (PORTOLAN_TLS_AGENT_CLIENT_CA_FILE) next to it', { 'requestheader-client-ca-file': frontProxyCa.certPem }, agentCa.certPem, [frontProxyCa.certPem, agentCa.certPem]],
    ['the agent CA alone when kube-apiserver has no front proxy', {}, agentCa.certPem, [agentCa.certPem]],
    ['none when there is neither', {}, undefined, undefined],
  ])('offers %s to TLS clients', async (_case, configMap, agentClientCaPem, offered) => {
    const delegation = new KubernetesDelegation(api(async () => configMap), silent);
    const contexts: Array<{ ca?: string[] }> = [];
    delegation.advertiseFrontProxyCa({ setSecureContext: (context) => void contexts.push(context as { ca?: string[] }) }, { ...serving, agentClientCaPem });
    await delegation.start();
    expect(contexts.map((context) => context.ca)).toEqual([offered]);
    delegation.close();
  });
});

describe('kubernetesPrincipal', () => {
  it.each([
    ['jane', 'kubernetes:jane'],
    ['admin', 'kubernetes:admin'],
    ['system:serviceaccount:ci:deployer', 'kubernetes:system:serviceaccount:ci:deployer'],
  ])('records %s as %s, apart from a Portolan token of the same name', (name, recorded) => {
    const user = { name, groups: [], extra: {} };
    expect(kubernetesPrincipal(user)).toEqual({ name: recorded, kubernetes: user });
  });
});
