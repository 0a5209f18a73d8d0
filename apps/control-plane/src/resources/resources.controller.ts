/**
 * The Kubernetes-style REST API of the mesh.portolan.dev group:
 * /apis/mesh.portolan.dev/v1alpha1/namespaces/{namespace}/{plural}[/{name}] plus the cluster-wide
 * list /apis/mesh.portolan.dev/v1alpha1/{plural}, and the history/rollback subresources.
 */
import { Body, Controller, createParamDecorator, Delete, Get, Headers, Inject, Param, Patch, Post, Put, Query, Req, Res, type ExecutionContext } from '@nestjs/common';
import type { Response } from 'express';
import { parse as parseYaml } from 'yaml';
import { API_GROUP, GROUP_VERSION, isJsonObject, type ChangeList, type Resource } from '@portolan/api';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { Access } from '../auth/roles';
import { RegistryResourcesService } from '../registry/registry-resources.service';
import { RESOURCE_STORE, type ResourceStore } from '../store/resource-store';
import { ApiError } from '../errors/api-error';
import { APPLY_PATCH, parseApplyBody, patchTypeOf } from './patch';
import { parseFieldValidation, parseForce, ResourcesService, type WriteRequest, type WriteResult } from './resources.service';
import { queryBoolean } from './list-options';
import { fieldSelector, labelSelector } from './selectors';
import { tableRows, toTable, wantsTable, type IncludeObject } from './table';
import { streamWatch, watchParameters } from './watch';
import { parseDeleteOptions } from './delete-options';

const BASE = `apis/${GROUP_VERSION}`;

/** The object a request names: `{namespace, plural, name}` from the URL. */
interface ObjectPath {
  namespace: string;
  plural: string;
  name: string;
}
const ObjectPath = createParamDecorator((_: unknown, context: ExecutionContext): ObjectPath => {
  const { namespace, plural, name } = context.switchToHttp().getRequest<AuthenticatedRequest>().params as Record<string, string>;
  return { namespace, plural, name };
});

type Query = Record<string, string | undefined>;

function dryRunOf(query: Query): boolean {
  if (query.dryRun === undefined) return false;
  if (query.dryRun === 'All') return true;
  throw ApiError.badRequest(`dryRun must be All, not ${JSON.stringify(query.dryRun)}`);
}

/** YAML bodies are accepted for create and replace too, for `curl --data-binary @policy.yaml`. */
function parseBody(body: unknown): unknown {
  if (typeof body !== 'string') return body;
  try {
    return parseYaml(body);
  } catch (error) {
    throw ApiError.badRequest(`the body is not valid YAML or JSON: ${(error as Error).message}`);
  }
}

@Controller()
export class ResourcesController {
  constructor(
    private readonly resources: ResourcesService,
    @Inject(RESOURCE_STORE) private readonly store: ResourceStore,
    private readonly registryResources: RegistryResourcesService,
  ) {}

  @Get(`${BASE}/:plural`)
  @Access('viewer')
  listAll(@Param('plural') plural: string, @Query() query: Query, @Headers('accept') accept: string | undefined, @Res() response: Response) {
    return this.listOrWatch(plural, undefined, query, accept, response);
  }

  @Get(`${BASE}/namespaces/:namespace/:plural`)
  @Access('viewer')
  list(
    @Param('namespace') namespace: string,
    @Param('plural') plural: string,
    @Query() query: Query,
    @Headers('accept') accept: string | undefined,
    @Res() response: Response,
  ) {
    return this.listOrWatch(plural, namespace, query, accept, response);
  }

  @Get(`${BASE}/namespaces/:namespace/:plural/:name`)
  @Access('viewer')
  async get(
    @ObjectPath() { namespace, plural, name }: ObjectPath,
    @Query() query: Query,
    @Headers('accept') accept: string | undefined,
  ) {
    const object = await this.resources.get(plural, namespace, name);
    if (!wantsTable(accept)) return object;
    return toTable(this.resources.definition(plural), [object], object.metadata.resourceVersion ?? '', this.includeObject(query));
  }

  @Post(`${BASE}/namespaces/:namespace/:plural`)
  @Access('editor')
  async create(
    @Param('namespace') namespace: string,
    @Param('plural') plural: string,
    @Body() body: unknown,
    @Query() query: Query,
    @Req() request: AuthenticatedRequest,
    @Res({ passthrough: true }) response: Response,
  ) {
    const result = await this.resources.create(plural, namespace, parseBody(body), this.writeRequest(query, request));
    return this.answer(result, response, 201);
  }

  @Put(`${BASE}/namespaces/:namespace/:plural/:name`)
  @Access('editor')
  async replace(
    @ObjectPath() { namespace, plural, name }: ObjectPath,
    @Body() body: unknown,
    @Query() query: Query,
    @Req() request: AuthenticatedRequest,
    @Res({ passthrough: true }) response: Response,
  ) {
    const result = await this.resources.replace(plural, namespace, name, parseBody(body), this.writeRequest(query, request));
    return this.answer(result, response, 200);
  }

  @Patch(`${BASE}/namespaces/:namespace/:plural/:name`)
  @Access('editor')
  async patch(
    @ObjectPath() { namespace, plural, name }: ObjectPath,
    @Body() body: unknown,
    @Query() query: Query,
    @Headers('content-type') contentType: string | undefined,
    @Req() request: AuthenticatedRequest,
    @Res({ passthrough: true }) response: Response,
  ) {
    const type = patchTypeOf(contentType);
    const patch = type === APPLY_PATCH ? parseApplyBody(body) : body;
    const result = await this.resources.patch(plural, namespace, name, type, patch, this.writeRequest(query, request));
    return this.answer(result, response, result.created ? 201 : 200);
  }

  @Delete(`${BASE}/namespaces/:namespace/:plural/:name`)
  @Access('editor')
  async delete(
    @ObjectPath() { namespace, plural, name }: ObjectPath,
    @Body() body: unknown,
    @Query() query: Query,
    @Req() request: AuthenticatedRequest,
  ) {
    const { expectedUid, ...options } = parseDeleteOptions(body, query);
    if (expectedUid !== undefined) {
      // The uid precondition is checked here; pinning the resourceVersion seen with it keeps check and delete atomic.
      const current = await this.resources.get(plural, namespace, name);
      if (current.metadata.uid !== expectedUid) {
        throw ApiError.of(409, 'Conflict', `Precondition failed: UID in precondition: ${expectedUid}, UID in object meta: ${current.metadata.uid}`, { name, kind: plural, group: API_GROUP });
      }
      options.expectedResourceVersion ??= current.metadata.resourceVersion;
    }
    return this.resources.delete(plural, namespace, name, { actor: this.actor(query, request), ...options });
  }

  /** The status subresource: the object with its status (`kubectl get --subresource=status`). */
  @Get(`${BASE}/namespaces/:namespace/:plural/:name/status`)
  @Access('viewer')
  status(@ObjectPath() { namespace, plural, name }: ObjectPath, @Query() query: Query, @Headers('accept') accept: string | undefined) {
    return this.get({ namespace, plural, name }, query, accept);
  }

  /** Status is computed by the control plane (rollout, autoscaler, failover controller); no client writes it. */
  @Put(`${BASE}/namespaces/:namespace/:plural/:name/status`)
  @Access('editor')
  replaceStatus(@ObjectPath() { plural }: ObjectPath): never {
    return this.refuseStatusWrite(plural);
  }

  @Patch(`${BASE}/namespaces/:namespace/:plural/:name/status`)
  @Access('editor')
  patchStatus(@ObjectPath() { plural }: ObjectPath): never {
    return this.refuseStatusWrite(plural);
  }

  private refuseStatusWrite(plural: string): never {
    const definition = this.resources.definition(plural);
    throw ApiError.of(
      405,
      'MethodNotAllowed',
      `the status of ${definition.plural} is written by the control plane only (rollout, conditions, controller decisions): change the object's spec instead`,
      { kind: definition.plural, group: API_GROUP },
    );
  }

  @Get(`${BASE}/namespaces/:namespace/:plural/:name/history`)
  @Access('viewer')
  async history(@ObjectPath() { namespace, plural, name }: ObjectPath): Promise<ChangeList> {
    const changes = await this.resources.history(plural, namespace, name);
    return { apiVersion: GROUP_VERSION, kind: 'ChangeList', metadata: {}, items: changes };
  }

  @Get(`${BASE}/namespaces/:namespace/:plural/:name/rollout`)
  @Access('viewer')
  rollout(@ObjectPath() { namespace, plural, name }: ObjectPath) {
    return this.resources.rollout(plural, namespace, name);
  }

  @Post(`${BASE}/namespaces/:namespace/:plural/:name/rollback`)
  @Access('editor')
  async rollback(
    @ObjectPath() { namespace, plural, name }: ObjectPath,
    @Body() body: unknown,
    @Query() query: Query,
    @Req() request: AuthenticatedRequest,
    @Res({ passthrough: true }) response: Response,
  ) {
    const revision = isJsonObject(body) ? body.revision : undefined;
    const result = await this.resources.rollback(plural, namespace, name, revision, this.writeRequest(query, request));
    return this.answer(result, response, 200);
  }

  private async listOrWatch(plural: string, namespace: string | undefined, query: Query, accept: string | undefined, response: Response) {
    const definition = this.resources.definition(plural);
    // Read as delegated authorization reads it (any value but false/0 is a watch), so a request is served as what it was authorized as.
    if (queryBoolean(query.watch)) {
      const byLabel = labelSelector(query.labelSelector);
      const byField = fieldSelector(query.fieldSelector);
      return streamWatch(
        definition.managedBy === 'registry' ? this.registryResources.watchSource() : this.store,
        {
          kind: definition.kind,
          namespace,
          ...watchParameters(query),
          matches: (resource: Resource) => byLabel(resource) && byField(resource),
          decorate: (resource: Resource) => this.resources.withStatus(resource),
          render: wantsTable(accept) ? tableRows(definition, this.includeObject(query)) : undefined,
          statusChanges: definition.isPolicy
            ? { subscribe: (listener) => this.resources.watchRollouts(listener), load: (key) => this.store.get(key) }
            : undefined,
        },
        response,
      );
    }
    const { items, revision } = await this.resources.list(plural, namespace, { label: query.labelSelector, field: query.fieldSelector });
    if (wantsTable(accept)) {
      response.json(toTable(definition, items, String(revision), this.includeObject(query)));
      return;
    }
    response.json({ apiVersion: GROUP_VERSION, kind: `${definition.kind}List`, metadata: { resourceVersion: String(revision) }, items });
  }

  private includeObject(query: Query): IncludeObject {
    const value = query.includeObject ?? 'Metadata';
    if (value === 'None' || value === 'Metadata' || value === 'Object') return value;
    throw ApiError.badRequest(`includeObject must be None, Metadata or Object, not ${JSON.stringify(value)}`);
  }

  private actor(query: Query, request: AuthenticatedRequest): string {
    const principal = request.principal?.name ?? 'anonymous';
    return query.fieldManager ? `${principal} via ${query.fieldManager}` : principal;
  }

  private writeRequest(query: Query, request: AuthenticatedRequest): WriteRequest {
    return {
      actor: this.actor(query, request),
      dryRun: dryRunOf(query),
      fieldValidation: parseFieldValidation(query.fieldValidation),
      // Field ownership (metadata.managedFields): the manager is the fieldManager, else the User-Agent's product.
      fieldManager: query.fieldManager,
      userAgent: request.headers['user-agent'],
      force: parseForce(query.force),
    };
  }

  private answer(result: WriteResult, response: Response, code: number) {
    response.status(code);
    // Kubernetes warning format; kubectl prints each as "Warning: ...".
    if (result.warnings.length) response.setHeader('Warning', result.warnings.map((w) => `299 - ${JSON.stringify(w)}`));
    return result.object;
  }
}

