import { readFileSync } from 'node:fs';

/** The gateway's version, as registered with the control plane. */
export const GATEWAY_VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
