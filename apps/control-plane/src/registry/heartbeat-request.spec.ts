import { describe, expect, it } from 'vitest';
import { heartbeatStats } from '../autoscaling/testing/heartbeat-stats';
import { InvalidHeartbeatError, readHeartbeatRequest } from './heartbeat-request';

const stats = heartbeatStats({ requests: 10 });

function causesOf(body: unknown) {
  try {
    readHeartbeatRequest(body);
  } catch (error) {
    if (error instanceof InvalidHeartbeatError) return error.causes.map((cause) => cause.field);
    throw error;
  }
  return [];
}

describe('readHeartbeatRequest', () => {
  it.each([
    ['no body', undefined, {}],
    ['an empty heartbeat', {}, {}],
    ['a draining one with its revision', { draining: true, appliedRevision: 42 }, { draining: true, appliedRevision: 42 }],
    ['statistics, with fields a newer agent may add', { stats: { ...stats, newCounter: 3 } }, { stats: { ...stats, newCounter: 3 } }],
  ])('reads %s', (_name, body, expected) => {
    expect(readHeartbeatRequest(body)).toEqual(expected);
  });

  it.each([
    ['a list', [], ['']],
    ['text', 'beat', ['']],
    ['null', null, ['']],
    ['draining as text, which would drain the node', { draining: 'false' }, ['draining']],
    ['a revision that is not a whole number', { appliedRevision: 1.5 }, ['appliedRevision']],
    ['a negative revision', { appliedRevision: -1 }, ['appliedRevision']],
    ['statistics that are not an object', { stats: 'stats' }, ['stats']],
    ['statistics without their counters and lists', { stats: {} }, ['stats.periodMs', 'stats.requests', 'stats.breakers', 'stats.ejectedEndpoints']],
    ['a breaker that is not an object', { stats: { ...stats, breakers: ['open'] } }, ['stats.breakers']],
    ['a count that is not a number', { stats: { ...stats, requests: '10' } }, ['stats.requests']],
    ['statistics nested thousands of levels deep', { stats: { ...stats, extra: JSON.parse(`${'['.repeat(5_000)}${']'.repeat(5_000)}`) } }, ['']],
  ])('refuses %s, naming every bad field', (_name, body, fields) => {
    expect(causesOf(body)).toEqual(fields);
  });

  it('quotes a bad value in at most a hundred characters, however long it is', () => {
    expect(() => readHeartbeatRequest({ stats: ['x'.repeat(100_000)] })).toThrow(/^the heartbeat is invalid: stats: Invalid value: \["x{98}…: must be an object/);
  });
});
