/**
 * A control plane whose embedded database is damaged, is not a database at all, or sits where it
 * cannot write refuses to start: it exits non-zero with one line naming the file or directory and
 * what to do, and leaves the data exactly as it found it (never overwritten, truncated or replaced
 * by an empty store). Once the operator fixes it, every stored object is there.
 *
 * The unwritable cases run the built control plane as `nobody` when the tests run as root
 * (permissions do not stop root), and with plain file modes otherwise. The processes start at
 * once: a failed start is mostly module loading.
 */
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP_VERSION, type Resource } from '@portolan/api';
import { readBootConfig } from '../src/config/boot-config';
import { startControlPlane } from '../src/control-plane';
import { openEmbeddedDatabase, SqliteResourceStore } from '../src/store/sqlite-resource-store';
import { nsPath } from './support/api-client';
import { startInProcess } from './support/in-process';
import { CONTROL_PLANE_MAIN, makeDataDir, removeDataDir } from './support/control-plane-process';

const NOBODY = 65_534;
const asRoot = process.getuid?.() === 0;
const ADMIN_TOKEN = 'state-file-admin-token-0123456789';
const env = { PORTOLAN_API_PORT: '0', PORTOLAN_OPS_PORT: '-1', PORTOLAN_ADMIN_TOKEN: ADMIN_TOKEN, PORTOLAN_BOOTSTRAP_TOKEN: 'state-file-bootstrap' };

interface FailedStart {
  code: number | string;
  output: string;
}

/** Runs the built control plane on `dataDir` until it exits; it must not start. */
function startProcess(dataDir: string, options: { asOtherUser?: boolean } = {}): Promise<FailedStart> {
  const child = spawn(process.execPath, [CONTROL_PLANE_MAIN], {
    env: { ...process.env, ...env, PORTOLAN_DATA_DIR: dataDir, PORTOLAN_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.asOtherUser && asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code: code ?? signal ?? -1, output })));
}

const service = (name: string, port: number): Resource => ({ apiVersion: GROUP_VERSION, kind: 'Service', metadata: { name, namespace: 'default' }, spec: { ports: [{ port }] } });

const dirs: string[] = [];

/** A data directory whose store holds `count` services, closed cleanly (no -wal file left). */
async function dataDirWithServices(count: number): Promise<string> {
  const dir = makeDataDir('portolan-state-file-');
  dirs.push(dir);
  const store = new SqliteResourceStore(openEmbeddedDatabase(join(dir, 'portolan.db')));
  for (let i = 0; i < count; i++) await store.create(service(`svc-${i}`, 8000 + i), { actor: 'test' });
  await store.close();
  return dir;
}

/** Gives the directory and the files in it to the user the control plane runs as here. */
function handOver(dir: string): void {
  if (!asRoot) return;
  for (const path of [dir, ...readdirSync(dir).map((name) => join(dir, name))]) chownSync(path, NOBODY, NOBODY);
}

const snapshotOf = (dir: string) => ({ entries: readdirSync(dir), db: readFileSync(join(dir, 'portolan.db')) });

let damaged: { dir: string; before: ReturnType<typeof snapshotOf>; start: FailedStart };
let readOnlyDir: { dir: string; before: ReturnType<typeof snapshotOf>; start: FailedStart };
let readOnlyFile: { dir: string; before: ReturnType<typeof snapshotOf>; start: FailedStart };

beforeAll(async () => {
  const damagedDir = await dataDirWithServices(300);
  // Page 1 (the schema) stays intact, so SQLite opens the file; page 12, among the resources, does not.
  const bytes = readFileSync(join(damagedDir, 'portolan.db'));
  bytes.fill(0xab, 12 * 4096, 13 * 4096);
  writeFileSync(join(damagedDir, 'portolan.db'), bytes);

  const readOnlyDirDir = await dataDirWithServices(3);
  handOver(readOnlyDirDir);
  chmodSync(readOnlyDirDir, 0o555);

  const readOnlyFileDir = await dataDirWithServices(5);
  handOver(readOnlyFileDir);
  if (asRoot) chownSync(join(readOnlyFileDir, 'portolan.db'), 0, 0);
  chmodSync(join(readOnlyFileDir, 'portolan.db'), 0o444);

  const before = [snapshotOf(damagedDir), snapshotOf(readOnlyDirDir), snapshotOf(readOnlyFileDir)];
  const [damagedStart, readOnlyDirStart, readOnlyFileStart] = await Promise.all([
    startProcess(damagedDir),
    startProcess(readOnlyDirDir, { asOtherUser: true }),
    startProcess(readOnlyFileDir, { asOtherUser: true }),
  ]);
  damaged = { dir: damagedDir, before: before[0], start: damagedStart };
  readOnlyDir = { dir: readOnlyDirDir, before: before[1], start: readOnlyDirStart };
  readOnlyFile = { dir: readOnlyFileDir, before: before[2], start: readOnlyFileStart };
});

afterAll(() => {
  for (const dir of dirs) {
    chmodSync(dir, 0o700);
    removeDataDir(dir);
  }
});

describe('a damaged embedded database', () => {
  it('stops the start with exit code 1, naming the file and what to do, and changes no byte', () => {
    const { dir, before, start } = damaged;
    expect(start.code).toBe(1);
    expect(start.output).toContain(`portolan: cannot start: cannot open the embedded store ${join(dir, 'portolan.db')}:`);
    expect(start.output).toContain(
      'the file is not a Portolan database or is damaged, and was left as it is: restore it from a backup, or move portolan.db (with any portolan.db-wal and portolan.db-shm beside it) out of the directory to start with an empty store',
    );
    expect(snapshotOf(dir)).toEqual(before);
  });

  it('refuses a file that is not a database the same way, leaving it as it is', async () => {
    const dir = makeDataDir('portolan-state-file-');
    dirs.push(dir);
    const content = '{"resources": "these were in a JSON file once"}\n';
    writeFileSync(join(dir, 'portolan.db'), content);
    const config = readBootConfig({ ...env, PORTOLAN_DATA_DIR: dir, PORTOLAN_LOG_LEVEL: 'silent' });
    await expect(startControlPlane(config)).rejects.toThrow(
      `cannot open the embedded store ${join(dir, 'portolan.db')}: file is not a database: the file is not a Portolan database or is damaged, and was left as it is`,
    );
    expect(readFileSync(join(dir, 'portolan.db'), 'utf8')).toBe(content);
  });
});

describe('a data directory the control plane cannot write', () => {
  it('names the directory and what to do when the directory is read-only', () => {
    const { dir, before, start } = readOnlyDir;
    expect(start.code).toBe(1);
    expect(start.output).toContain(`portolan: cannot start: cannot write the data directory ${dir}:`);
    expect(start.output).toContain('make it writable by the user the control plane runs as, or set PORTOLAN_DATA_DIR to a writable directory');
    expect(snapshotOf(dir)).toEqual(before);
  });

  it('names the directory and what to do when the database file is read-only', () => {
    const { dir, before, start } = readOnlyFile;
    expect(start.code).toBe(1);
    expect(start.output).toContain(`portolan: cannot start: cannot open the embedded store ${join(dir, 'portolan.db')}:`);
    expect(start.output).toContain(`the control plane cannot write ${dir}: make the directory and the files in it writable by the user it runs as, or set PORTOLAN_DATA_DIR to a writable directory`);
    expect(snapshotOf(dir).db).toEqual(before.db);
  });

  it('loses nothing: once the file is writable again, every stored object is there', async () => {
    const { dir } = readOnlyFile;
    chmodSync(join(dir, 'portolan.db'), 0o600);
    const cp = await startInProcess({ PORTOLAN_DATA_DIR: dir, PORTOLAN_LOG_LEVEL: 'silent', PORTOLAN_OPS_PORT: '-1', PORTOLAN_ADMIN_TOKEN: ADMIN_TOKEN });
    try {
      const items = (await cp.client.call('GET', nsPath('services'))).body.items;
      expect(items.map((item: Resource) => item.metadata.name).sort()).toEqual(['svc-0', 'svc-1', 'svc-2', 'svc-3', 'svc-4']);
    } finally {
      await cp.client.close();
      await cp.running.close();
      removeDataDir(cp.dataDir);
    }
  });
});
