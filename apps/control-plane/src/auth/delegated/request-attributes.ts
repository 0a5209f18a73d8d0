/**
 * What a request asks to do, in the terms kube-apiserver authorizes it: the RequestInfo of
 * k8s.io/apiserver/pkg/endpoints/request/requestinfo.go, reduced to the attributes a
 * SubjectAccessReview carries. The same rules as kube-apiserver's, so an RBAC rule means here what
 * it means for every other API:
 *  - `/apis/{group}/{version}/[namespaces/{ns}/]{resource}[/{name}[/{subresource}]]` is a resource
 *    request; anything shorter (`/apis`, `/apis/{group}`, `/apis/{group}/{version}`) or elsewhere
 *    (`/openapi/v3`, `/version`) is a non-resource request, whose verb is the lowercased method;
 *  - POST create, GET and HEAD get, PUT update, PATCH patch, DELETE delete; a GET without a name is
 *    list, or watch when `watch` is set to anything but `false`/`0`; a DELETE without a name is
 *    deletecollection; a `metadata.name=` field selector names the object of a list or watch.
 *
 * The attributes must describe what the control plane then serves, so the request is read as the
 * router and the list handler read it, not as a URL library would normalise it: the path as sent
 * (Express routes the raw path and %-decodes each segment on its own), the query through
 * node:querystring (Express's "simple" query parser), `watch` and `fieldSelector` through the
 * functions the list and watch handlers use (resources/list-options.ts, resources/selectors.ts).
 * What the two could read differently is refused (400): dot segments, escaped or not, which a URL
 * library resolves and the router does not; a request target with characters that make Express
 * parse it another way; and a group, version, resource or subresource with capitals, which the
 * router matches ignoring case and RBAC does not. kube-apiserver's proxy sends none of these.
 */
import { parse as parseQuery } from 'node:querystring';
import { ApiError } from '../../errors/api-error';
import { firstQueryValue, queryBoolean } from '../../resources/list-options';
import { parseFieldSelector } from '../../resources/selectors';

/** The resource attributes of a SubjectAccessReview (authorization.k8s.io/v1 ResourceAttributes). */
export interface ResourceRequest {
  kind: 'resource';
  group: string;
  version: string;
  resource: string;
  /** `status`, `history`, `rollout`, `rollback`, `effective-config`…; empty for the object itself. */
  subresource: string;
  /** Empty for cluster-scoped requests (`GET /apis/mesh.portolan.dev/v1alpha1/ratelimitpolicies`). */
  namespace: string;
  /** Empty for collections. */
  name: string;
  verb: string;
}

/** The non-resource attributes of a SubjectAccessReview (NonResourceAttributes). */
export interface NonResourceRequest {
  kind: 'nonResource';
  path: string;
  verb: string;
}

export type RequestAttributes = ResourceRequest | NonResourceRequest;

/** Path prefixes kube-apiserver serves resources under; `api` is the core group's, which has no group segment. */
const API_PREFIXES = new Set(['api', 'apis']);
const GROUPLESS_API_PREFIXES = new Set(['api']);
/** Verbs once given as a path segment (`/apis/g/v/watch/...`), still understood by kube-apiserver. */
const SPECIAL_VERBS = new Set(['proxy', 'watch']);
const SPECIAL_VERBS_WITHOUT_SUBRESOURCES = new Set(['proxy']);
/** Subresources of a Namespace object, so `/namespaces/x/status` is not a resource named status. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

const VERB_OF_METHOD: Record<string, string> = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/**
 * Characters with which Express's URL parsing (parseurl) stops taking the path to be the text
 * before `?` and falls back to url.parse, which reads it otherwise (a `#` ends the path, for one).
 */
const REPARSED_TARGET = /[\t\n\f\r #\u00a0\ufeff]/;

function refused(url: string, problem: string): ApiError {
  return ApiError.badRequest(`the request target ${JSON.stringify(url)} ${problem}; kube-apiserver's proxy sends no such path, so send it as kubectl would`);
}

function decodeSegment(raw: string, url: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw refused(url, `has a malformed %-escape in ${JSON.stringify(raw)}`);
  }
}

/** Segments of a path, leading and trailing slashes ignored, as requestinfo's splitPath does. */
function splitPath(path: string): string[] {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? [] : trimmed.split('/');
}

/**
 * The path decoded as a whole (as Go's url.URL.Path, and a non-resource SubjectAccessReview, have
 * it), its segments each decoded on its own (as the router's parameters are), and the raw query.
 */
function readTarget(url: string): { path: string; segments: string[]; query: string } {
  if (!url.startsWith('/') || REPARSED_TARGET.test(url)) throw refused(url, 'is not a plain path and query');
  const mark = url.indexOf('?');
  const rawPath = mark === -1 ? url : url.slice(0, mark);
  // Segment by segment first, so that a malformed escape is named; then the path can only decode.
  const segments = splitPath(rawPath).map((segment) => decodeSegment(segment, url));
  const path = decodeSegment(rawPath, url);
  // A URL library resolves these (`new URL` turns `/a/x/%2e%2e/y` into `/a/y`) and the router does
  // not. Looked for in the path decoded as a whole, so that `x%2F..` counts too.
  if (path.split('/').some((segment) => segment === '.' || segment === '..')) throw refused(url, 'has a dot segment ("." or "..", escaped or not)');
  return { path, segments, query: mark === -1 ? '' : url.slice(mark + 1) };
}

/**
 * The value `metadata.name` must equal for `selector` to match (fields.Selector.RequiresExactMatch),
 * or undefined when it does not pin the name. Parsed by the parser the list handler filters with.
 * A selector that does not parse pins nothing, as in kube-apiserver: the list is then authorized
 * for every name, and the list handler answers 400.
 */
export function fieldSelectorName(selector: string | undefined): string | undefined {
  if (!selector) return undefined;
  let requirements;
  try {
    requirements = parseFieldSelector(selector);
  } catch (error) {
    if (error instanceof ApiError) return undefined;
    throw error;
  }
  return requirements.find((requirement) => requirement.field === 'metadata.name' && requirement.operator !== '!=')?.value;
}

/** path.IsValidPathSegmentName: a name kube-apiserver would accept in a URL. */
function isValidPathSegmentName(name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');
}

/**
 * The attributes of a request, from its method and its request target (path and query as the
 * client sent them: Express's `originalUrl`). Throws a 400 ApiError for a target that the router
 * could read otherwise (see the top of this file).
 */
export function requestAttributes(method: string, url: string): RequestAttributes {
  const { path, segments, query } = readTarget(url);
  const nonResource: NonResourceRequest = { kind: 'nonResource', path, verb: method.toLowerCase() };

  let parts = segments;
  if (parts.length < 3 || !API_PREFIXES.has(parts[0])) return nonResource;
  const prefix = parts[0];
  parts = parts.slice(1);
  let group = '';
  if (!GROUPLESS_API_PREFIXES.has(prefix)) {
    if (parts.length < 3) return nonResource;
    group = parts[0];
    parts = parts.slice(1);
  }
  const version = parts[0];
  parts = parts.slice(1);

  let verb: string;
  if (SPECIAL_VERBS.has(parts[0]) && parts.length >= 2) {
    verb = parts[0];
    parts = parts.slice(1);
  } else {
    verb = VERB_OF_METHOD[method.toUpperCase()] ?? '';
  }

  let namespace = '';
  if (parts[0] === 'namespaces' && parts.length > 1) {
    namespace = parts[1];
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2])) parts = parts.slice(2);
  }

  const resource = parts[0] ?? '';
  let name = parts.length >= 2 ? parts[1] : '';
  const subresource = parts.length >= 3 && !SPECIAL_VERBS_WITHOUT_SUBRESOURCES.has(verb) ? parts[2] : '';

  // The router serves `/NAMESPACES/x/ratelimitpolicies` as `/namespaces/x/ratelimitpolicies`,
  // which requestinfo reads as a get of a resource NAMESPACES named x: refused, not reviewed as that.
  const capitalised = [group, version, resource, subresource].find((segment) => /[A-Z]/.test(segment));
  if (capitalised !== undefined) throw refused(url, `spells ${JSON.stringify(capitalised)} with capitals, which the router matches ignoring case and RBAC does not; write it in lowercase`);

  if (name === '' && verb === 'get') {
    const parameters = parseQuery(query);
    verb = queryBoolean(parameters.watch) ? 'watch' : 'list';
    const pinned = fieldSelectorName(firstQueryValue(parameters.fieldSelector));
    if (pinned !== undefined && isValidPathSegmentName(pinned)) name = pinned;
  }
  if (name === '' && verb === 'delete') verb = 'deletecollection';

  return { kind: 'resource', group, version, resource, subresource, namespace, name, verb };
}

/** kube-apiserver escapes these so that no message can pass for HTML (responsewriters.sanitizer). */
function sanitized(message: string): string {
  return message.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * kube-apiserver's 403 message (responsewriters.Forbidden wrapped by apierrors.NewForbidden), so
 * kubectl users read what they read for any other API:
 * `ratelimitpolicies.mesh.portolan.dev "x" is forbidden: User "jane" cannot patch resource
 * "ratelimitpolicies" in API group "mesh.portolan.dev" in the namespace "default"`, followed by
 * `: <reason>` when the authorizer gave one.
 */
export function forbiddenMessage(user: string, attributes: RequestAttributes, reason?: string): string {
  let denial: string;
  if (attributes.kind === 'nonResource') {
    denial = `User ${JSON.stringify(user)} cannot ${attributes.verb} path ${JSON.stringify(attributes.path)}`;
  } else {
    const resource = attributes.subresource ? `${attributes.resource}/${attributes.subresource}` : attributes.resource;
    const scope = attributes.namespace ? `in the namespace ${JSON.stringify(attributes.namespace)}` : 'at the cluster scope';
    denial = `User ${JSON.stringify(user)} cannot ${attributes.verb} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(attributes.group)} ${scope}`;
  }
  const explained = sanitized(denial) + (reason ? `: ${reason}` : '');
  if (attributes.kind === 'nonResource' || (!attributes.group && !attributes.resource)) return `forbidden: ${explained}`;
  const qualified = attributes.group ? `${attributes.resource}.${attributes.group}` : attributes.resource;
  return attributes.name ? `${qualified} ${JSON.stringify(attributes.name)} is forbidden: ${explained}` : `${qualified} is forbidden: ${explained}`;
}
