/**
 * What kubectl reads before it touches a resource: /version (its dispatcher picks the client
 * version from `minor`; 29+ works with an OpenAPI-v3-only server), legacy discovery, and the
 * OpenAPI v3 document whose PATCH operations carry the fieldValidation parameter so that kubectl
 * validates on the server. /openapi/v2 is 404 on purpose: kubectl accepts v2 only as protobuf.
 */
import { Controller, Get, Header, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { createHash } from 'node:crypto';
import { API_GROUP, API_VERSION, buildOpenApiDocument, GROUP_VERSION, KINDS } from '@portolan/api';
import { Access } from '../auth/roles';
import { ApiError } from '../errors/api-error';
import { PORTOLAN_VERSION } from '../version';

const OPENAPI_DOCUMENT = JSON.stringify(buildOpenApiDocument());
const OPENAPI_HASH = createHash('sha256').update(OPENAPI_DOCUMENT).digest('hex').slice(0, 32).toUpperCase();

const groupVersion = { groupVersion: GROUP_VERSION, version: API_VERSION };

@Controller()
export class DiscoveryController {
  @Get('version')
  @Access('public')
  version() {
    return {
      major: '1',
      minor: '32',
      gitVersion: `v1.32.0-portolan.${PORTOLAN_VERSION}`,
      gitCommit: '',
      gitTreeState: 'clean',
      buildDate: '',
      goVersion: '',
      compiler: 'node',
      platform: `${process.platform}/${process.arch}`,
    };
  }

  @Get('api')
  @Access('viewer')
  coreApi() {
    return { kind: 'APIVersions', versions: [], serverAddressByClientCIDRs: [] };
  }

  @Get('apis')
  @Access('viewer')
  groups() {
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [{ name: API_GROUP, versions: [groupVersion], preferredVersion: groupVersion }],
    };
  }

  @Get(`apis/${API_GROUP}`)
  @Access('viewer')
  group() {
    return { kind: 'APIGroup', apiVersion: 'v1', name: API_GROUP, versions: [groupVersion], preferredVersion: groupVersion };
  }

  @Get(`apis/${GROUP_VERSION}`)
  @Access('viewer')
  resources() {
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: GROUP_VERSION,
      resources: KINDS.flatMap((definition) => [
        {
          name: definition.plural,
          singularName: definition.singular,
          namespaced: true,
          kind: definition.kind,
          verbs: definition.managedBy === 'registry' ? ['get', 'list', 'watch'] : ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
          shortNames: definition.shortNames,
          categories: definition.categories,
        },
        // Status is a subresource, as for a CRD with `subresources.status`; the control plane computes it, so it is read-only.
        { name: `${definition.plural}/status`, singularName: '', namespaced: true, kind: definition.kind, verbs: ['get'] },
      ]),
    };
  }

  @Get('openapi/v3')
  @Access('viewer')
  openApiIndex() {
    return { paths: { [`apis/${GROUP_VERSION}`]: { serverRelativeURL: `/openapi/v3/apis/${GROUP_VERSION}?hash=${OPENAPI_HASH}` } } };
  }

  @Get(`openapi/v3/apis/${GROUP_VERSION}`)
  @Access('viewer')
  @Header('Content-Type', 'application/json')
  openApiDocument(@Query('hash') hash: string | undefined, @Res() response: Response) {
    // The URL changes with the hash whenever a schema changes, so a hashed URL is immutable.
    response.setHeader('Cache-Control', hash === OPENAPI_HASH ? 'public, immutable' : 'no-cache, private');
    response.send(OPENAPI_DOCUMENT);
  }

  @Get('openapi/v2')
  @Access('viewer')
  openApiV2() {
    throw ApiError.of(404, 'NotFound', 'the server could not find the requested resource: this server publishes OpenAPI v3 only (/openapi/v3)');
  }
}
