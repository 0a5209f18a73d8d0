/**
 * Fail static across restarts: every snapshot the gateway applied is written here, so a gateway
 * restarted while the control plane is unreachable serves its last good configuration instead of
 * nothing. Written to a temporary file and renamed, so a crash mid-write leaves the previous copy.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Snapshot } from '@portolan/agent-client';

const FILE = 'last-good-config.json';

export class LastGoodConfig {
  private readonly file: string;

  constructor(private readonly dir: string) {
    this.file = join(dir, FILE);
  }

  load(): Snapshot | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const snapshot = JSON.parse(text) as Snapshot;
      return typeof snapshot.version === 'string' && Array.isArray(snapshot.routes) ? snapshot : undefined;
    } catch {
      return undefined;
    }
  }

  save(snapshot: Snapshot): void {
    mkdirSync(this.dir, { recursive: true });
    const temporary = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(snapshot));
    renameSync(temporary, this.file);
  }
}
