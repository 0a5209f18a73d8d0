/**
 * The environment variables the control plane and the gateway read, from their documentation's
 * tables (boot-config.spec.ts and the gateway's config.spec.ts keep those tables equal to the
 * code), so that a misspelt variable in a manifest fails here instead of being ignored in a pod.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './render.js';

/** The OpenTelemetry variable both programs read besides their own (docs/configuration.md, docs/gateway.md). */
const OTEL_TRACES_ENDPOINT = 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT';

export function controlPlaneVariables(): Set<string> {
  const table = readFileSync(join(REPO_ROOT, 'docs/configuration.md'), 'utf8');
  const documented = [...table.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((match) => match[1]);
  return new Set([...documented, OTEL_TRACES_ENDPOINT]);
}

/** The gateway's variables with their defaults (`(none)` is no default). */
export function gatewayVariables(): Map<string, string | undefined> {
  const table = readFileSync(join(REPO_ROOT, 'docs/gateway.md'), 'utf8');
  const rows = [...table.matchAll(/^\| `--[a-z-]+` \| `([A-Z][A-Z0-9_]*)` \| (`([^`]*)`|\(none\)) \|/gm)];
  return new Map([...rows.map((row): [string, string | undefined] => [row[1], row[3]]), [OTEL_TRACES_ENDPOINT, undefined]]);
}
