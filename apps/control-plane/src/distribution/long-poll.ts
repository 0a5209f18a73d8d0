/**
 * The long-poll snapshot answer (docs/agent-protocol.md), written on a plain node:http response so
 * the routed controller (Express's response extends it) and the agent lane share it.
 */
import type { ServerResponse } from 'node:http';
import { failureStatus, parseDuration } from '@portolan/api';
import { PROTOCOL_DEFAULTS } from '@portolan/agent-client';
import { ApiError } from '../errors/api-error';
import type { DistributionService } from './distribution.service';
import { snapshotFrames, type GatewaySnapshot } from './snapshot-builder';

const DEFAULT_WAIT_MS = 30_000;

export interface LongPoll {
  /** Answer at once with a snapshot of a version other than this (`If-None-Match`)... */
  heldVersion?: string;
  /** ...or, without it, with one newer than this revision (none: the current one). */
  revision?: number;
  waitMs: number;
}

/** Reads the query and `If-None-Match`; an ApiError (400) names a malformed `wait` or `revision`. */
export function readLongPoll(revisionParam: string | undefined, wait: string | undefined, ifNoneMatch: string | undefined): LongPoll {
  let waitMs = DEFAULT_WAIT_MS;
  if (wait !== undefined) {
    try {
      waitMs = Math.min(parseDuration(wait), PROTOCOL_DEFAULTS.maxWaitMs);
    } catch {
      throw ApiError.badRequest(`wait must be a duration such as 30s, not ${JSON.stringify(wait)}`);
    }
  }
  const revision = revisionParam === undefined ? undefined : Number(revisionParam);
  if (revision !== undefined && !Number.isInteger(revision)) throw ApiError.badRequest(`revision must be an integer, not ${JSON.stringify(revisionParam)}`);
  const heldVersion = ifNoneMatch?.replace(/^W\//, '').replace(/^"|"$/g, '');
  return { heldVersion, revision, waitMs };
}

export type LongPollDistribution = Pick<DistributionService, 'settled' | 'snapshotOf' | 'noteFetch' | 'attach'>;

/**
 * Answers at once with the gateway's snapshot when it is new to the agent; otherwise holds the
 * request until a new one is built or the wait ends (304). A held request ends at once when the
 * node goes: 304 when deregistered, 401 when an operator revoked its credential.
 */
export async function answerLongPoll(distribution: LongPollDistribution, id: string, poll: LongPoll, response: ServerResponse): Promise<void> {
  await distribution.settled();
  const isNew = (snapshot: GatewaySnapshot) => (poll.heldVersion !== undefined ? snapshot.version !== poll.heldVersion : poll.revision === undefined || snapshot.revision > poll.revision);
  const current = distribution.snapshotOf(id);
  if (current && isNew(current)) {
    distribution.noteFetch(id, 'long-poll');
    return writeSnapshot(response, current);
  }
  await new Promise<void>((resolve) => {
    let detach = () => {};
    const finish = (snapshot?: GatewaySnapshot, revoked = false) => {
      clearTimeout(timer);
      detach();
      response.off('close', onClose);
      if (response.writableEnded || response.destroyed) return resolve();
      if (snapshot) writeSnapshot(response, snapshot);
      else if (revoked) writeJson(response, failureStatus(401, 'Unauthorized', `Unauthorized: the credential of node ${id} was revoked: register again with the bootstrap token`));
      else response.writeHead(304).end();
      resolve();
    };
    const onClose = () => finish();
    const timer = setTimeout(() => finish(), poll.waitMs);
    detach = distribution.attach(
      id,
      {
        transport: 'long-poll',
        deliver: (snapshot) => (isNew(snapshot) ? finish(snapshot) : undefined),
        close: (cause) => finish(undefined, cause === 'credential-revoked'),
      },
      false,
    );
    response.on('close', onClose);
  });
}

function writeSnapshot(response: ServerResponse, snapshot: GatewaySnapshot): void {
  const [open, routes, close] = snapshotFrames(snapshot, false);
  response.writeHead(200, {
    'Content-Type': 'application/json',
    ETag: `"${snapshot.version}"`,
    'X-Portolan-Revision': String(snapshot.revision),
    'Content-Length': open.length + routes.length + close.length,
  });
  response.write(open);
  response.write(routes);
  response.end(close);
}

function writeJson(response: ServerResponse, status: { code: number }): void {
  const json = JSON.stringify(status);
  response.writeHead(status.code, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(json) });
  response.end(json);
}
