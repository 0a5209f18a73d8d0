import { parse as parseQuery } from 'node:querystring';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../errors/api-error';
import { fieldSelectorName, forbiddenMessage, requestAttributes, type RequestAttributes } from './request-attributes';

const G = '/apis/mesh.portolan.dev/v1alpha1';
const NS = `${G}/namespaces/default`;
const resource = (verb: string, plural: string, extra: Partial<RequestAttributes> = {}): RequestAttributes => ({
  kind: 'resource',
  group: 'mesh.portolan.dev',
  version: 'v1alpha1',
  resource: plural,
  subresource: '',
  namespace: 'default',
  name: '',
  verb,
  ...extra,
}) as RequestAttributes;

describe('requestAttributes: the verb and resource kube-apiserver would authorize', () => {
  it.each<[string, string, RequestAttributes]>([
    ['GET', `${NS}/ratelimitpolicies`, resource('list', 'ratelimitpolicies')],
    ['GET', `${NS}/ratelimitpolicies?watch=true`, resource('watch', 'ratelimitpolicies')],
    ['GET', `${NS}/ratelimitpolicies?watch=1&resourceVersion=10`, resource('watch', 'ratelimitpolicies')],
    // apimachinery reads any value but false/0 as true, the empty one too.
    ['GET', `${NS}/ratelimitpolicies?watch=`, resource('watch', 'ratelimitpolicies')],
    ['GET', `${NS}/ratelimitpolicies?watch=false`, resource('list', 'ratelimitpolicies')],
    ['GET', `${NS}/ratelimitpolicies?watch=FALSE`, resource('list', 'ratelimitpolicies')],
    ['GET', `${NS}/ratelimitpolicies?watch=0`, resource('list', 'ratelimitpolicies')],
    ['GET', `${NS}/ratelimitpolicies?watch=yes`, resource('watch', 'ratelimitpolicies')],
    ['GET', `${NS}/ratelimitpolicies?watch`, resource('watch', 'ratelimitpolicies')],
    // A repeated parameter counts by its first value, in kube-apiserver and in the list handler alike.
    ['GET', `${NS}/ratelimitpolicies?watch=false&watch=true`, resource('list', 'ratelimitpolicies')],
    ['GET', `${G}/ratelimitpolicies`, resource('list', 'ratelimitpolicies', { namespace: '' })],
    ['GET', `${G}/ratelimitpolicies?watch=true`, resource('watch', 'ratelimitpolicies', { namespace: '' })],
    ['GET', `${NS}/ratelimitpolicies/edge`, resource('get', 'ratelimitpolicies', { name: 'edge' })],
    ['HEAD', `${NS}/ratelimitpolicies/edge`, resource('get', 'ratelimitpolicies', { name: 'edge' })],
    // A watch of one object is what `kubectl get rlp edge -w` sends: the field selector names it.
    ['GET', `${NS}/ratelimitpolicies?watch=true&fieldSelector=metadata.name%3Dedge`, resource('watch', 'ratelimitpolicies', { name: 'edge' })],
    ['GET', `${NS}/ratelimitpolicies?fieldSelector=metadata.name%3D%3Dedge,metadata.namespace%3Ddefault`, resource('list', 'ratelimitpolicies', { name: 'edge' })],
    ['GET', `${NS}/ratelimitpolicies?fieldSelector=metadata.name!%3Dedge`, resource('list', 'ratelimitpolicies')],
    ['GET', `${NS}/ratelimitpolicies?fieldSelector=metadata.name%3Da%2Fb`, resource('list', 'ratelimitpolicies')],
    ['GET', `${NS}/ratelimitpolicies?fieldSelector=metadata.name%3Dx&fieldSelector=metadata.name%3Dy`, resource('list', 'ratelimitpolicies', { name: 'x' })],
    // The bypass this parser closes: set-based syntax is not a field selector, so nothing is pinned
    // here beyond what apimachinery pins, and the list handler reads the same terms (and answers 400).
    ['GET', `${NS}/ratelimitpolicies?fieldSelector=${encodeURIComponent('metadata.name notin (q=,metadata.name=x,r=)')}`, resource('list', 'ratelimitpolicies', { name: 'x' })],
    // The path as the router reads it: each segment decoded on its own.
    ['GET', `${NS}/ratelimitpolicies/%65dge`, resource('get', 'ratelimitpolicies', { name: 'edge' })],
    ['GET', `${NS}/ratelimitpolicies/x%2Fstatus`, resource('get', 'ratelimitpolicies', { name: 'x/status' })],
    ['POST', `${NS}/ratelimitpolicies`, resource('create', 'ratelimitpolicies')],
    ['PUT', `${NS}/ratelimitpolicies/edge`, resource('update', 'ratelimitpolicies', { name: 'edge' })],
    ['PATCH', `${NS}/ratelimitpolicies/edge?fieldManager=kubectl`, resource('patch', 'ratelimitpolicies', { name: 'edge' })],
    ['DELETE', `${NS}/ratelimitpolicies/edge`, resource('delete', 'ratelimitpolicies', { name: 'edge' })],
    ['DELETE', `${NS}/ratelimitpolicies`, resource('deletecollection', 'ratelimitpolicies')],
    ['GET', `${NS}/ratelimitpolicies/edge/status`, resource('get', 'ratelimitpolicies', { name: 'edge', subresource: 'status' })],
    ['PUT', `${NS}/ratelimitpolicies/edge/status`, resource('update', 'ratelimitpolicies', { name: 'edge', subresource: 'status' })],
    ['PATCH', `${NS}/ratelimitpolicies/edge/status`, resource('patch', 'ratelimitpolicies', { name: 'edge', subresource: 'status' })],
    ['GET', `${NS}/ratelimitpolicies/edge/history`, resource('get', 'ratelimitpolicies', { name: 'edge', subresource: 'history' })],
    ['GET', `${NS}/timeoutpolicies/edge/rollout`, resource('get', 'timeoutpolicies', { name: 'edge', subresource: 'rollout' })],
    ['POST', `${NS}/ratelimitpolicies/edge/rollback`, resource('create', 'ratelimitpolicies', { name: 'edge', subresource: 'rollback' })],
    ['GET', `${NS}/gatewaynodes/gw-1/effective-config`, resource('get', 'gatewaynodes', { name: 'gw-1', subresource: 'effective-config' })],
    // The deprecated verb-in-path form kube-apiserver still understands.
    ['GET', `${G}/watch/namespaces/default/ratelimitpolicies`, resource('watch', 'ratelimitpolicies')],
    // The core group has no group segment; a Namespace's own subresources are not resources in it.
    ['GET', '/api/v1/namespaces/default/configmaps/x', { kind: 'resource', group: '', version: 'v1', resource: 'configmaps', subresource: '', namespace: 'default', name: 'x', verb: 'get' }],
    ['PUT', '/api/v1/namespaces/team-a/finalize', { kind: 'resource', group: '', version: 'v1', resource: 'namespaces', subresource: 'finalize', namespace: 'team-a', name: 'team-a', verb: 'update' }],
  ])('%s %s', (method, url, expected) => {
    expect(requestAttributes(method, url)).toEqual(expected);
  });

  it.each<[string, string, RequestAttributes]>([
    ['GET', '/apis', { kind: 'nonResource', path: '/apis', verb: 'get' }],
    ['GET', '/api', { kind: 'nonResource', path: '/api', verb: 'get' }],
    ['GET', '/apis/mesh.portolan.dev', { kind: 'nonResource', path: '/apis/mesh.portolan.dev', verb: 'get' }],
    ['GET', G, { kind: 'nonResource', path: G, verb: 'get' }],
    ['GET', '/openapi/v3', { kind: 'nonResource', path: '/openapi/v3', verb: 'get' }],
    ['GET', `/openapi/v3${G}?hash=ABC`, { kind: 'nonResource', path: `/openapi/v3${G}`, verb: 'get' }],
    ['GET', '/version', { kind: 'nonResource', path: '/version', verb: 'get' }],
    ['POST', '/v1/tokens', { kind: 'nonResource', path: '/v1/tokens', verb: 'post' }],
  ])('%s %s is a non-resource request', (method, url, expected) => {
    expect(requestAttributes(method, url)).toEqual(expected);
  });
});

describe('requestAttributes: a request target the router could read otherwise is refused 400', () => {
  it.each<[string, RegExp]>([
    // new URL() resolves these to `${NS}/ratelimitpolicies/x`; the router does not.
    [`${G}/namespaces/other/ratelimitpolicies/../../default/ratelimitpolicies/x`, /has a dot segment/],
    [`${G}/namespaces/other/ratelimitpolicies/%2e%2e/%2E%2e/default/ratelimitpolicies/x`, /has a dot segment/],
    [`${NS}/ratelimitpolicies/./x`, /has a dot segment/],
    [`${NS}/ratelimitpolicies/x%2F..`, /has a dot segment/],
    [`${NS}/ratelimitpolicies/..`, /has a dot segment/],
    [`${NS}/ratelimitpolicies?watch=true#x`, /is not a plain path and query/],
    [`${NS}/ratelimitpolicies/%zz`, /malformed %-escape in "%zz"/],
    ['https://portolan.invalid/apis', /is not a plain path and query/],
    // The router matches fixed segments ignoring case; requestinfo would read a resource NAMESPACES named default.
    [`${G}/NAMESPACES/default/ratelimitpolicies`, /spells "NAMESPACES" with capitals/],
    [`${NS}/RateLimitPolicies`, /spells "RateLimitPolicies" with capitals/],
    [`${NS}/ratelimitpolicies/x/HISTORY`, /spells "HISTORY" with capitals/],
  ])('%s', (url, reason) => {
    let thrown: unknown;
    try {
      requestAttributes('GET', url);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ApiError);
    expect((thrown as ApiError).status).toMatchObject({ code: 400, reason: 'BadRequest', message: expect.stringMatching(reason) });
  });

  it('reads the query with the parser Express hands the list handler, so both see the same parameters', () => {
    expect(express().get('query parser fn')).toBe(parseQuery);
  });
});

describe('fieldSelectorName: the name a list or watch is authorized for', () => {
  it.each<[string | undefined, string | undefined]>([
    [undefined, undefined],
    ['', undefined],
    ['metadata.name=edge', 'edge'],
    ['metadata.name==edge', 'edge'],
    ['metadata.namespace=default,metadata.name=edge', 'edge'],
    ['metadata.name!=edge', undefined],
    ['metadata.name=a\\,b', 'a,b'],
    // apimachinery sorts the terms first; every term must hold anyway, so either name is safe.
    ['metadata.name=b,metadata.name=a', 'a'],
    // Not a selector: pins nothing, so the list is authorized for every name (and answered 400).
    ['metadata.name=a\\x', undefined],
    ['metadata.name=a=b', undefined],
    ['nonsense', undefined],
    ['metadata.name in (x)', undefined],
    // The attack: split like apimachinery, the middle term is metadata.name=x and the others are
    // unsupported fields; the filter reads the same terms, so it can serve x at most.
    ['metadata.name notin (q=,metadata.name=x,r=)', 'x'],
  ])('%j pins %j', (selector, expected) => {
    expect(fieldSelectorName(selector)).toBe(expected);
  });
});

describe('forbiddenMessage: kube-apiserver\'s words', () => {
  it.each<[RequestAttributes, string | undefined, string]>([
    [
      resource('patch', 'ratelimitpolicies', { name: 'x' }),
      undefined,
      'ratelimitpolicies.mesh.portolan.dev "x" is forbidden: User "jane" cannot patch resource "ratelimitpolicies" in API group "mesh.portolan.dev" in the namespace "default"',
    ],
    [
      resource('list', 'ratelimitpolicies', { namespace: '' }),
      undefined,
      'ratelimitpolicies.mesh.portolan.dev is forbidden: User "jane" cannot list resource "ratelimitpolicies" in API group "mesh.portolan.dev" at the cluster scope',
    ],
    [
      resource('update', 'ratelimitpolicies', { name: 'x', subresource: 'status' }),
      'RBAC: clusterrole.rbac.authorization.k8s.io "mesh-status" not found',
      'ratelimitpolicies.mesh.portolan.dev "x" is forbidden: User "jane" cannot update resource "ratelimitpolicies/status" in API group "mesh.portolan.dev" in the namespace "default": RBAC: clusterrole.rbac.authorization.k8s.io "mesh-status" not found',
    ],
    [{ kind: 'nonResource', path: '/openapi/v3', verb: 'get' }, undefined, 'forbidden: User "jane" cannot get path "/openapi/v3"'],
  ])('%j', (attributes, reason, expected) => {
    expect(forbiddenMessage('jane', attributes, reason)).toBe(expected);
  });

  it('escapes what could pass for HTML, as kube-apiserver does', () => {
    expect(forbiddenMessage('<b>&', { kind: 'nonResource', path: '/apis', verb: 'get' })).toBe('forbidden: User "&lt;b&gt;&amp;" cannot get path "/apis"');
  });
});
