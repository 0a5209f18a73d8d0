/**
 * kube-apiserver's front proxy: how it says who the user is. The aggregation layer proxies a
 * request to Portolan with its front-proxy client certificate and the user in headers
 * (X-Remote-User, X-Remote-Group, X-Remote-Extra-*); which headers, and which certificates may send
 * them, is published in the ConfigMap kube-system/extension-apiserver-authentication. This file
 * reads that ConfigMap and the headers the way k8s.io/apiserver's requestheader authenticator does
 * (pkg/authentication/request/headerrequest/requestheader.go). Whether the certificate may be
 * believed is front-proxy-certificate.ts's question.
 */
import type { X509Certificate } from 'node:crypto';
import { CertificateBundleError, parseCertificateBundle } from '../../tls/client-certificate';

export const AUTHENTICATION_CONFIGMAP = { namespace: 'kube-system', name: 'extension-apiserver-authentication' } as const;

/** The user a front-proxied request acts for, as kube-apiserver authenticated it. */
export interface KubernetesUser {
  name: string;
  /** Absent when the front proxy sent none (kube-apiserver before 1.32 never does). */
  uid?: string;
  groups: string[];
  /** user.Info.Extra: keys lowercased and unescaped, values in the order received. */
  extra: Record<string, string[]>;
}

/** Which headers carry the user. */
export interface RequestHeaderNames {
  usernameHeaders: string[];
  uidHeaders: string[];
  groupHeaders: string[];
  extraHeaderPrefixes: string[];
}

/** Whom to believe: the CA bundle that signs front-proxy certificates, and the CNs allowed among them. */
export interface FrontProxyTrust {
  /** `requestheader-client-ca-file`, as published. */
  caPem: string;
  cas: X509Certificate[];
  /** `requestheader-allowed-names`; empty means any certificate the CA signed. */
  allowedNames: string[];
}

export interface FrontProxySettings extends RequestHeaderNames, FrontProxyTrust {}

/** The ConfigMap, read: `frontProxy` is absent when kube-apiserver runs without --requestheader-client-ca-file. */
export interface ExtensionApiserverAuthentication {
  frontProxy?: FrontProxySettings;
  /** `client-ca-file`: the CA of the cluster's client certificates. Read and logged; Portolan authenticates no client certificate with it. */
  clientCaPem?: string;
}

/** kube-apiserver's defaults, for recognising a request that claims a user before the ConfigMap has been read. */
export const CONVENTIONAL_HEADER_NAMES: RequestHeaderNames = {
  usernameHeaders: ['X-Remote-User'],
  uidHeaders: ['X-Remote-Uid'],
  groupHeaders: ['X-Remote-Group'],
  extraHeaderPrefixes: ['X-Remote-Extra-'],
};

export class AuthenticationConfigMapError extends Error {
  readonly code = 'PORTOLAN_AUTHENTICATION_CONFIGMAP';
}

const where = `ConfigMap ${AUTHENTICATION_CONFIGMAP.namespace}/${AUTHENTICATION_CONFIGMAP.name}`;

/** A JSON list of strings, as kube-apiserver writes every list in the ConfigMap; header names trimmed and non-empty, as kube requires. */
function stringList(data: Record<string, string>, key: string, kind: 'headers' | 'names'): string[] {
  const raw = data[key];
  if (raw === undefined || raw.trim() === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new AuthenticationConfigMapError(`${where}: ${key} is not a JSON list of strings: ${JSON.stringify(raw.slice(0, 200))}`);
  }
  if (parsed === null) return [];
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) {
    throw new AuthenticationConfigMapError(`${where}: ${key} is not a JSON list of strings: ${JSON.stringify(raw.slice(0, 200))}`);
  }
  if (kind === 'names') return parsed;
  return parsed.map((header) => {
    const trimmed = header.trim();
    if (trimmed === '') throw new AuthenticationConfigMapError(`${where}: ${key} lists an empty header name`);
    return trimmed;
  });
}

/** Every certificate of a PEM bundle; AuthenticationConfigMapError naming `source` otherwise. */
function certificateBundle(pem: string, source: string): X509Certificate[] {
  try {
    return parseCertificateBundle(pem, source);
  } catch (error) {
    throw error instanceof CertificateBundleError ? new AuthenticationConfigMapError(error.message) : error;
  }
}

/** The ConfigMap's `data`, read; throws AuthenticationConfigMapError naming the key that is wrong. */
export function parseAuthenticationConfigMap(data: Record<string, string> | undefined): ExtensionApiserverAuthentication {
  const values = data ?? {};
  const clientCaPem = values['client-ca-file'] || undefined;
  const caPem = values['requestheader-client-ca-file'];
  if (!caPem) return { ...(clientCaPem ? { clientCaPem } : {}) };
  return {
    ...(clientCaPem ? { clientCaPem } : {}),
    frontProxy: {
      caPem,
      cas: certificateBundle(caPem, `${where}: requestheader-client-ca-file`),
      allowedNames: stringList(values, 'requestheader-allowed-names', 'names'),
      usernameHeaders: stringList(values, 'requestheader-username-headers', 'headers'),
      uidHeaders: stringList(values, 'requestheader-uid-headers', 'headers'),
      groupHeaders: stringList(values, 'requestheader-group-headers', 'headers'),
      extraHeaderPrefixes: stringList(values, 'requestheader-extra-headers-prefix', 'headers'),
    },
  };
}

/** Request headers with repeated headers kept apart (Node's `headersDistinct`): names lowercased, values in order. */
export type DistinctHeaders = Record<string, string[] | undefined>;

/** Go's http.Header.Get: the first value of the header, "" when absent. */
function firstValue(headers: DistinctHeaders, name: string): string {
  return headers[name.toLowerCase()]?.[0] ?? '';
}

/** The first non-empty value among `names`, tried in order (headerValue). */
function firstNonEmpty(headers: DistinctHeaders, names: string[]): string {
  for (const name of names) {
    const value = firstValue(headers, name);
    if (value !== '') return value;
  }
  return '';
}

/**
 * url.PathUnescape, as kube-apiserver undoes the escaping it applied to an extra key that is not
 * a valid header name (`X-Remote-Extra-Acme.com%2fproject: p1` is the key `acme.com/project`). A
 * malformed escape keeps the key as sent ("always record extra strings"); bytes that are not UTF-8
 * become U+FFFD, which is what Go's JSON encoding of the key would send on.
 */
export function unescapeExtraKey(encoded: string): string {
  const bytes: number[] = [];
  for (let index = 0; index < encoded.length; index++) {
    if (encoded[index] !== '%') {
      bytes.push(...Buffer.from(encoded[index], 'utf8'));
      continue;
    }
    const hex = encoded.slice(index + 1, index + 3);
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) return encoded;
    bytes.push(parseInt(hex, 16));
    index += 2;
  }
  return new TextDecoder('utf-8').decode(Uint8Array.from(bytes));
}

/**
 * The user the headers name (requestHeaderAuthRequestHandler.AuthenticateRequest), or undefined
 * when no username header has a value: then the request is not the front proxy's to authenticate.
 * Only to be called once the front-proxy certificate has been verified.
 */
export function userFromHeaders(headers: DistinctHeaders, names: RequestHeaderNames): KubernetesUser | undefined {
  const name = firstNonEmpty(headers, names.usernameHeaders);
  if (name === '') return undefined;
  const uid = firstNonEmpty(headers, names.uidHeaders);
  const groups = names.groupHeaders.flatMap((header) => (headers[header.toLowerCase()] ?? []).filter((value) => value !== ''));
  const extra: Record<string, string[]> = {};
  // Prefixes first, as kube does, so that values keep the prefixes' order.
  for (const prefix of names.extraHeaderPrefixes) {
    const lowerPrefix = prefix.toLowerCase();
    for (const [header, values] of Object.entries(headers)) {
      if (!header.startsWith(lowerPrefix) || values === undefined) continue;
      const key = unescapeExtraKey(header.slice(lowerPrefix.length));
      (extra[key] ??= []).push(...values);
    }
  }
  return { name, ...(uid ? { uid } : {}), groups, extra };
}

/**
 * The identity headers present in a request, spelled as configured: a request that carries any of
 * them claims to speak for a user, and is refused unless the front proxy sent it.
 */
export function identityHeadersPresent(headers: DistinctHeaders, names: RequestHeaderNames): string[] {
  const exact = [...names.usernameHeaders, ...names.uidHeaders, ...names.groupHeaders].filter((header) => headers[header.toLowerCase()] !== undefined);
  const prefixed = names.extraHeaderPrefixes.flatMap((prefix) =>
    Object.keys(headers)
      .filter((header) => header.startsWith(prefix.toLowerCase()))
      .map((header) => `${prefix}${header.slice(prefix.length)}`),
  );
  return [...new Set([...exact, ...prefixed])];
}
