/**
 * Vitest global setup: the end-to-end tests need Debian's chromium at /usr/bin/chromium. When it is
 * missing and the tests run as root (CI), it is installed from Debian's packages; otherwise the run
 * stops here with the command to run.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CHROMIUM } from './support/browser';

export default function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  if (process.getuid?.() !== 0) throw new Error(`the dashboard's end-to-end tests need ${CHROMIUM}: install it with \`sudo apt-get install -y chromium\``);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { stdio: 'inherit', env });
  try {
    install();
  } catch {
    execFileSync('apt-get', ['update'], { stdio: 'inherit', env });
    install();
  }
  if (!existsSync(CHROMIUM)) throw new Error(`apt-get installed chromium but ${CHROMIUM} is missing`);
}
