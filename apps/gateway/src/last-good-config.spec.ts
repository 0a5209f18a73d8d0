import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Snapshot } from '@portolan/agent-client';
import { LastGoodConfig } from './last-good-config.js';

const NOW = Date.parse('2026-03-01T10:20:30.123Z');
const ASIDE = 'last-good-config.json.corrupt-2026-03-01T10-20-30-123Z';
const snapshot: Snapshot = { version: '7.abc', revision: 7, gateway: { id: 'g', name: 'edge-1', zone: 'zone-a', pool: 'edge' }, share: null, routes: [] };

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'portolan-last-good-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('LastGoodConfig', () => {
  it('finds nothing in a new state directory, and loads what it saved', () => {
    const state = new LastGoodConfig(dir, () => NOW);
    expect(state.load()).toEqual({ kind: 'none' });
    state.save(snapshot);
    expect(new LastGoodConfig(dir).load()).toEqual({ kind: 'loaded', snapshot });
    expect(readdirSync(dir)).toEqual(['last-good-config.json']);
  });

  it.each([
    ['a truncated write', JSON.stringify(snapshot).slice(0, 30), /^not JSON/],
    ['an empty file', '', /^not JSON/],
    ['JSON that is not a snapshot', '{"routes": "all of them"}', /not a snapshot/],
    ['JSON null', 'null', /not a snapshot/],
  ])('moves %s aside, keeping its bytes, and never saves over it', (_case, content, reason) => {
    writeFileSync(join(dir, 'last-good-config.json'), content);
    const state = new LastGoodConfig(dir, () => NOW);
    const loaded = state.load();
    expect(loaded).toMatchObject({ kind: 'damaged', file: join(dir, 'last-good-config.json'), movedTo: join(dir, ASIDE) });
    expect(loaded.kind === 'damaged' && loaded.reason).toMatch(reason);
    state.save(snapshot);
    expect(readFileSync(join(dir, ASIDE), 'utf8')).toBe(content);
    expect(new LastGoodConfig(dir).load()).toEqual({ kind: 'loaded', snapshot });
  });

  it('keeps a damaged file it cannot move aside exactly as it is, refusing every save', () => {
    writeFileSync(join(dir, 'last-good-config.json'), '{"half a snapsh');
    // A directory where the copy would go makes the rename fail, whoever runs the test.
    mkdirSync(join(dir, ASIDE, 'occupied'), { recursive: true });
    const state = new LastGoodConfig(dir, () => NOW);
    expect(state.load()).toMatchObject({ kind: 'damaged', moveError: expect.any(String) });
    expect(() => state.save(snapshot)).toThrow(/is damaged and could not be moved aside/);
    expect(readFileSync(join(dir, 'last-good-config.json'), 'utf8')).toBe('{"half a snapsh');
  });

  it('reports a file it cannot read without touching it', () => {
    mkdirSync(join(dir, 'last-good-config.json'));
    expect(new LastGoodConfig(dir, () => NOW).load()).toMatchObject({ kind: 'unreadable', file: join(dir, 'last-good-config.json') });
    expect(readdirSync(dir)).toEqual(['last-good-config.json']);
  });

  it('throws when the state directory cannot be written', () => {
    writeFileSync(join(dir, 'a-file'), '');
    const state = new LastGoodConfig(join(dir, 'a-file', 'state'), () => NOW);
    expect(state.load()).toMatchObject({ kind: 'unreadable' });
    expect(() => state.save(snapshot)).toThrow(/ENOTDIR/);
  });
});
