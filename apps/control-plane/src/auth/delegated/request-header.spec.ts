import { describe, expect, it } from 'vitest';
import {
  CONVENTIONAL_HEADER_NAMES,
  identityHeadersPresent,
  parseAuthenticationConfigMap,
  unescapeExtraKey,
  userFromHeaders,
  type DistinctHeaders,
  type RequestHeaderNames,
} from './request-header';
import { testCertificateAuthority } from './testing/test-certificates';

const frontProxyCa = testCertificateAuthority('front-proxy-ca');
const clusterCa = testCertificateAuthority('kubernetes');

/** The ConfigMap as kube-apiserver writes it with kubeadm's flags. */
const KUBEADM_DATA = {
  'client-ca-file': clusterCa.certPem,
  'requestheader-allowed-names': '["front-proxy-client"]',
  'requestheader-client-ca-file': frontProxyCa.certPem,
  'requestheader-extra-headers-prefix': '["X-Remote-Extra-"]',
  'requestheader-group-headers': '["X-Remote-Group"]',
  'requestheader-username-headers': '["X-Remote-User"]',
};

describe('parseAuthenticationConfigMap', () => {
  it('reads what kube-apiserver publishes', () => {
    const config = parseAuthenticationConfigMap(KUBEADM_DATA);
    expect(config.clientCaPem).toBe(clusterCa.certPem);
    expect(config.frontProxy).toMatchObject({
      caPem: frontProxyCa.certPem,
      allowedNames: ['front-proxy-client'],
      usernameHeaders: ['X-Remote-User'],
      uidHeaders: [],
      groupHeaders: ['X-Remote-Group'],
      extraHeaderPrefixes: ['X-Remote-Extra-'],
    });
    expect(config.frontProxy!.cas.map((ca) => ca.subject)).toEqual(['CN=front-proxy-ca']);
  });

  it('has no front proxy when kube-apiserver runs without --requestheader-client-ca-file', () => {
    expect(parseAuthenticationConfigMap({ 'client-ca-file': clusterCa.certPem })).toEqual({ clientCaPem: clusterCa.certPem });
    expect(parseAuthenticationConfigMap(undefined)).toEqual({});
  });

  it('takes an empty or null allowed-names list as "any CN the CA signed" (AKS publishes none)', () => {
    expect(parseAuthenticationConfigMap({ ...KUBEADM_DATA, 'requestheader-allowed-names': '' }).frontProxy!.allowedNames).toEqual([]);
    expect(parseAuthenticationConfigMap({ ...KUBEADM_DATA, 'requestheader-allowed-names': 'null' }).frontProxy!.allowedNames).toEqual([]);
  });

  it('reads a bundle of several CAs, for CA rotation', () => {
    const next = testCertificateAuthority('front-proxy-ca-next');
    const config = parseAuthenticationConfigMap({ ...KUBEADM_DATA, 'requestheader-client-ca-file': `${frontProxyCa.certPem}${next.certPem}` });
    expect(config.frontProxy!.cas).toHaveLength(2);
  });

  it.each([
    [{ 'requestheader-allowed-names': 'front-proxy-client' }, /requestheader-allowed-names is not a JSON list of strings/],
    [{ 'requestheader-group-headers': '[1]' }, /requestheader-group-headers is not a JSON list of strings/],
    [{ 'requestheader-username-headers': '[" "]' }, /requestheader-username-headers lists an empty header name/],
    [{ 'requestheader-client-ca-file': 'not a certificate' }, /requestheader-client-ca-file holds no PEM certificate/],
  ])('refuses %o, naming the key', (change, message) => {
    expect(() => parseAuthenticationConfigMap({ ...KUBEADM_DATA, ...change })).toThrow(message);
  });
});

describe('unescapeExtraKey (url.PathUnescape, lenient as kube is)', () => {
  it.each([
    ['scopes', 'scopes'],
    ['acme.com%2fproject', 'acme.com/project'],
    ['authentication.kubernetes.io%2fpod-name', 'authentication.kubernetes.io/pod-name'],
    ['a+b', 'a+b'],
    ['%e4%b8%ad', '中'],
    ['%ff', '\ufffd'],
    ['100%', '100%'],
    ['%zz', '%zz'],
  ])('%s is %s', (encoded, key) => {
    expect(unescapeExtraKey(encoded)).toBe(key);
  });
});

describe('userFromHeaders', () => {
  const names: RequestHeaderNames = { usernameHeaders: ['X-Remote-User', 'X-Forwarded-User'], uidHeaders: ['X-Remote-Uid'], groupHeaders: ['X-Remote-Group', 'X-Other-Group'], extraHeaderPrefixes: ['X-Remote-Extra-', 'X-Other-Extra-'] };

  it.each<[string, DistinctHeaders, ReturnType<typeof userFromHeaders>]>([
    ['no username header: not the front proxy\'s to authenticate', { 'x-remote-group': ['devs'] }, undefined],
    ['an empty username is no username', { 'x-remote-user': [''] }, undefined],
    ['the first username header with a value wins', { 'x-remote-user': [''], 'x-forwarded-user': ['jane', 'joe'] }, { name: 'jane', groups: [], extra: {} }],
    ['only the first value of a username header counts', { 'x-remote-user': ['jane', 'admin'] }, { name: 'jane', groups: [], extra: {} }],
    [
      'groups: every value of every group header, repeated headers kept apart, empty values dropped',
      { 'x-remote-user': ['jane'], 'x-remote-group': ['devs', 'a,b', ''], 'x-other-group': ['system:authenticated'] },
      { name: 'jane', groups: ['devs', 'a,b', 'system:authenticated'], extra: {} },
    ],
    [
      'extra: keys lowercased and unescaped, values in the order of the prefixes',
      { 'x-remote-user': ['system:serviceaccount:ns:sa'], 'x-remote-extra-scopes': ['view', 'edit'], 'x-remote-extra-acme.com%2fproject': ['p1'], 'x-other-extra-scopes': ['admin'], 'x-remote-uid': ['4f2c'] },
      { name: 'system:serviceaccount:ns:sa', uid: '4f2c', groups: [], extra: { scopes: ['view', 'edit', 'admin'], 'acme.com/project': ['p1'] } },
    ],
  ])('%s', (_case, headers, expected) => {
    expect(userFromHeaders(headers, names)).toEqual(expected);
  });
});

describe('identityHeadersPresent', () => {
  it('names every header that would claim a user, as configured', () => {
    expect(identityHeadersPresent({ 'x-remote-user': ['jane'], 'x-remote-extra-scopes': ['x'], accept: ['*/*'] }, CONVENTIONAL_HEADER_NAMES)).toEqual(['X-Remote-User', 'X-Remote-Extra-scopes']);
    expect(identityHeadersPresent({ 'x-remote-group': ['system:masters'] }, CONVENTIONAL_HEADER_NAMES)).toEqual(['X-Remote-Group']);
    expect(identityHeadersPresent({ authorization: ['Bearer x'] }, CONVENTIONAL_HEADER_NAMES)).toEqual([]);
  });
});
