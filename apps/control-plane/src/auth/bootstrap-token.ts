/**
 * The bootstrap token gateways and service instances register with. It grants registration only:
 * every later call of a node uses the per-node credential registration returned, so a leaked
 * bootstrap token cannot act as an existing gateway. Set PORTOLAN_BOOTSTRAP_TOKEN, or let the
 * first start generate `<data dir>/bootstrap.token` (mode 0600).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newToken } from './token-service';

const digest = (value: string) => createHash('sha256').update(value).digest();

export class BootstrapToken {
  /** Where the generated token was written, when one was. */
  readonly file?: string;
  private readonly expected: Buffer;

  constructor(dataDir: string, configured?: string) {
    let token = configured;
    if (!token) {
      this.file = join(dataDir, 'bootstrap.token');
      if (!existsSync(this.file)) writeFileSync(this.file, `${newToken()}\n`, { mode: 0o600 });
      token = readFileSync(this.file, 'utf8').trim();
    }
    this.expected = digest(token);
  }

  matches(candidate: string): boolean {
    return timingSafeEqual(this.expected, digest(candidate));
  }
}
