/**
 * Fail static across restarts: every snapshot the gateway applied is written here, so a gateway
 * restarted while the control plane is unreachable serves its last good configuration instead of
 * nothing. Written to a temporary file and renamed, so a crash mid-write leaves the previous copy.
 *
 * A file that cannot be read as a snapshot (damaged disk, a hand edit, another program's file) is
 * never overwritten: it is moved aside to `last-good-config.json.corrupt-<time>` for the operator
 * to inspect, and the gateway starts without it and takes its configuration from the control plane.
 * When it cannot even be moved aside, nothing is saved over it for the life of the process.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isSnapshot, type Snapshot } from '@portolan/agent-client';

const FILE = 'last-good-config.json';

export type LoadedConfig =
  | { kind: 'none' }
  | { kind: 'loaded'; snapshot: Snapshot }
  /** Present but not a snapshot; `movedTo` where it now is, or `moveError` why it stayed. */
  | { kind: 'damaged'; file: string; reason: string; movedTo?: string; moveError?: string }
  /** Present but not readable (permissions, an I/O error): left as it is. */
  | { kind: 'unreadable'; file: string; reason: string };

function parseSnapshot(text: string): Snapshot | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return `not JSON (${(error as Error).message})`;
  }
  return isSnapshot(parsed) ? parsed : 'JSON, but not a snapshot (no version, revision or routes)';
}

/** `2026-03-01T10:20:30.123Z` as a file name suffix: `2026-03-01T10-20-30-123Z`. */
const fileTime = (ms: number) => new Date(ms).toISOString().replace(/[:.]/g, '-');

export class LastGoodConfig {
  readonly file: string;
  /** Why nothing may be saved: a damaged file that could not be moved aside is still in the way. */
  private blocked: string | undefined;

  constructor(
    readonly dir: string,
    private readonly clock: () => number = Date.now,
  ) {
    this.file = join(dir, FILE);
  }

  load(): LoadedConfig {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'none' };
      return { kind: 'unreadable', file: this.file, reason: (error as Error).message };
    }
    const parsed = parseSnapshot(text);
    if (typeof parsed !== 'string') return { kind: 'loaded', snapshot: parsed };
    const reason = parsed;
    const aside = `${this.file}.corrupt-${fileTime(this.clock())}`;
    try {
      renameSync(this.file, aside);
      return { kind: 'damaged', file: this.file, reason, movedTo: aside };
    } catch (error) {
      this.blocked = `${this.file} is damaged and could not be moved aside (${(error as Error).message}); it is kept as it is`;
      return { kind: 'damaged', file: this.file, reason, moveError: (error as Error).message };
    }
  }

  /** Throws when the state directory cannot be written (or a damaged file is in the way). */
  save(snapshot: Snapshot): void {
    if (this.blocked) throw new Error(this.blocked);
    mkdirSync(this.dir, { recursive: true });
    const temporary = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(snapshot));
    renameSync(temporary, this.file);
  }
}
