/**
 * --client-cert and --client-key (config.ts): checked at start so that a wrong file is an error
 * naming the flag, not a TLS failure at every connection. Certificates are made here with the
 * openssl CLI (EC keys: fast).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readGatewayConfig } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'gateway-client-cert-'));
const file = (name: string) => join(dir, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
const certificate = (name: string, san: string) =>
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.crt`), '-days', '1', '-subj', `/CN=${name}`, '-addext', `subjectAltName=${san}`, '-addext', 'extendedKeyUsage=clientAuth');
certificate('edge-a', 'URI:spiffe://portolan/ns/default/gateway/edge-a');
certificate('instance', 'URI:spiffe://portolan/ns/shop/instance/orders-1');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TOKEN = { PORTOLAN_BOOTSTRAP_TOKEN: 't' };

describe('the client certificate settings', () => {
  it('reads the certificate and key, and names the gateway after the certificate\'s SPIFFE ID', () => {
    const config = readGatewayConfig(['--client-cert', file('edge-a.crt'), '--client-key', file('edge-a.key')], TOKEN);
    expect(config.clientCertificate).toEqual({ certPem: readFileSync(file('edge-a.crt'), 'utf8'), keyPem: readFileSync(file('edge-a.key'), 'utf8') });
    expect(config.name).toBe('edge-a');
  });

  it('reads them from PORTOLAN_CLIENT_CERT and PORTOLAN_CLIENT_KEY; --name wins over the certificate\'s name', () => {
    const config = readGatewayConfig(['--name', 'edge-z'], { ...TOKEN, PORTOLAN_CLIENT_CERT: file('edge-a.crt'), PORTOLAN_CLIENT_KEY: file('edge-a.key') });
    expect(config.clientCertificate?.certPem).toContain('BEGIN CERTIFICATE');
    expect(config.name).toBe('edge-z');
  });

  it('gives no name from a certificate that names no gateway', () => {
    expect(readGatewayConfig(['--client-cert', file('instance.crt'), '--client-key', file('instance.key')], TOKEN).name).toBeUndefined();
    expect(readGatewayConfig([], TOKEN).clientCertificate).toBeUndefined();
  });

  it.each<[string, () => string[], string]>([
    ['a certificate without its key', () => ['--client-cert', file('edge-a.crt')], '--client-key is not set: --client-cert and --client-key go together'],
    ['a key without its certificate', () => ['--client-key', file('edge-a.key')], '--client-cert is not set: --client-cert and --client-key go together'],
    ['a certificate file that is missing', () => ['--client-cert', file('gone.crt'), '--client-key', file('edge-a.key')], `--client-cert ${file('gone.crt')} cannot be read (ENOENT)`],
    ['a key file that is missing', () => ['--client-cert', file('edge-a.crt'), '--client-key', file('gone.key')], `--client-key ${file('gone.key')} cannot be read (ENOENT)`],
    ['a key given as the certificate', () => ['--client-cert', file('edge-a.key'), '--client-key', file('edge-a.key')], `--client-cert ${file('edge-a.key')} is not a PEM certificate`],
    ['a certificate given as the key', () => ['--client-cert', file('edge-a.crt'), '--client-key', file('edge-a.crt')], `--client-key ${file('edge-a.crt')} is not an unencrypted PEM private key`],
    ['another certificate\'s key', () => ['--client-cert', file('edge-a.crt'), '--client-key', file('instance.key')], `--client-key ${file('instance.key')} is not the private key of --client-cert ${file('edge-a.crt')}`],
  ])('refuses %s with a message naming the flag', (_case, argv, message) => {
    expect(() => readGatewayConfig(argv(), TOKEN)).toThrow(message);
  });
});
