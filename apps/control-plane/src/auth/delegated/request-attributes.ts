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
 */

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

/** Go's url.URL.Path is the decoded path; a malformed escape leaves the path as sent. */
function decodedPath(rawPath: string): string {
  try {
    return decodeURIComponent(rawPath);
  } catch {
    return rawPath;
  }
}

function splitPath(path: string): string[] {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? [] : trimmed.split('/');
}

/**
 * How kube-apiserver's parameter codec reads a boolean query parameter
 * (apimachinery's Convert_Slice_string_To_bool): absent, `false` (any case) or `0` is false, and
 * every other value, the empty string included, is true.
 */
function queryBoolean(value: string | undefined): boolean {
  return value !== undefined && value !== '0' && value.toLowerCase() !== 'false';
}

/** Terms of a field selector, split on commas that are not escaped. */
function selectorTerms(selector: string): string[] {
  const terms: string[] = [];
  let current = '';
  for (let index = 0; index < selector.length; index++) {
    const char = selector[index];
    if (char === '\\' && index + 1 < selector.length) {
      current += char + selector[index + 1];
      index++;
    } else if (char === ',') {
      terms.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  terms.push(current);
  return terms;
}

/** A field selector value with its escapes (`\\`, `\,`, `\=`) undone; undefined when an escape is not one of those. */
function unescapeSelectorValue(value: string): string | undefined {
  let result = '';
  for (let index = 0; index < value.length; index++) {
    if (value[index] !== '\\') {
      result += value[index];
      continue;
    }
    const next = value[index + 1];
    if (next !== '\\' && next !== ',' && next !== '=') return undefined;
    result += next;
    index++;
  }
  return result;
}

/**
 * The value `metadata.name` must equal for `selector` to match (fields.Selector.RequiresExactMatch),
 * `undefined` when it does not pin the name, and `null` when the selector does not parse (then
 * kube-apiserver ignores every list option but `watch`).
 */
export function fieldSelectorName(selector: string | undefined): string | undefined | null {
  if (selector === undefined || selector === '') return undefined;
  let pinned: string | undefined;
  for (const term of selectorTerms(selector)) {
    if (term === '') continue;
    const match = /^(.*?)(!=|==|=)(.*)$/.exec(term);
    if (!match) return null;
    const [, field, operator, rawValue] = match;
    const value = unescapeSelectorValue(rawValue);
    if (value === undefined) return null;
    if (field === 'metadata.name' && operator !== '!=' && pinned === undefined) pinned = value;
  }
  return pinned;
}

/** path.IsValidPathSegmentName: a name kube-apiserver would accept in a URL. */
function isValidPathSegmentName(name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');
}

/**
 * The attributes of a request, from its method and its URL (path and query, as the client sent
 * them, e.g. Express's `originalUrl`).
 */
export function requestAttributes(method: string, url: string): RequestAttributes {
  const parsed = new URL(url, 'https://portolan.invalid');
  const path = decodedPath(parsed.pathname);
  const nonResource: NonResourceRequest = { kind: 'nonResource', path, verb: method.toLowerCase() };

  let parts = splitPath(path);
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

  if (name === '' && verb === 'get') {
    const watch = parsed.searchParams.getAll('watch')[0];
    verb = queryBoolean(watch) ? 'watch' : 'list';
    const pinned = fieldSelectorName(parsed.searchParams.getAll('fieldSelector')[0]);
    if (typeof pinned === 'string' && isValidPathSegmentName(pinned)) name = pinned;
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
