/**
 * The API is served over HTTPS because kubectl only sends bearer tokens to https:// servers. On
 * first start the control plane makes its own CA and a serving certificate signed by it, keeps
 * both in the data directory, and embeds the CA in the kubeconfig it prints. node-forge builds the
 * X.509 structures (Node's crypto can make keys but not certificates); keys come from Node's
 * crypto, which is much faster than forge's pure-JS RSA.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';

export interface ServingCertificate {
  caPem: string;
  /** Path of the CA certificate, for gateways and other clients that must trust the API. */
  caFile: string;
  certPem: string;
  keyPem: string;
}

const YEAR_MS = 365 * 24 * 3600 * 1000;

function newKeyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    forgePublic: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
  };
}

/**
 * 16 random bytes as a positive, minimally encoded DER integer: the first byte has the high bit
 * cleared (else the serial is negative, which OpenSSL may refuse) and is not zero (else the
 * encoding is not minimal). An odd-length hex string does not work: node-forge drops the nibble.
 */
export function randomSerialHex(): string {
  const serial = randomBytes(16);
  serial[0] = (serial[0] & 0x7f) | 0x01;
  return serial.toString('hex');
}

function baseCertificate(publicKey: forge.pki.PublicKey, years: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + years * YEAR_MS);
  return cert;
}

function createCa(): { certPem: string; keyPem: string } {
  const keys = newKeyPair();
  const cert = baseCertificate(keys.forgePublic, 10);
  const subject = [{ name: 'commonName', value: 'Portolan control plane CA' }, { name: 'organizationName', value: 'Portolan' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keys.privateKeyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
}

function createServingCertificate(ca: { certPem: string; keyPem: string }, names: string[]): { certPem: string; keyPem: string } {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const keys = newKeyPair();
  const cert = baseCertificate(keys.forgePublic, 2);
  cert.setSubject([{ name: 'commonName', value: 'portolan-control-plane' }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: names.map((name) => (isIP(name) ? { type: 7, ip: name } : { type: 2, value: name })) },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
}

function subjectAltNames(certPem: string): string[] {
  const extension = forge.pki.certificateFromPem(certPem).getExtension('subjectAltName') as
    | { altNames: Array<{ value?: string; ip?: string }> }
    | undefined;
  return extension?.altNames.map((alt) => alt.ip ?? alt.value ?? '') ?? [];
}

/**
 * Loads the CA and serving certificate from `<dataDir>/tls`, creating what is missing. The serving
 * certificate is re-issued (by the same CA, so kubeconfigs stay valid) when it lacks a name asked for.
 */
export function ensureServingCertificate(dataDir: string, extraNames: string[]): ServingCertificate {
  const dir = join(dataDir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = { caCert: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
  if (!existsSync(files.caCert) || !existsSync(files.caKey)) {
    const ca = createCa();
    writeFileSync(files.caKey, ca.keyPem, { mode: 0o600 });
    writeFileSync(files.caCert, ca.certPem);
  }
  const ca = { certPem: readFileSync(files.caCert, 'utf8'), keyPem: readFileSync(files.caKey, 'utf8') };
  const names = [...new Set(['localhost', '127.0.0.1', '::1', ...extraNames])];
  const current = existsSync(files.cert) && existsSync(files.key) ? readFileSync(files.cert, 'utf8') : undefined;
  if (!current || !names.every((name) => subjectAltNames(current).includes(name))) {
    const serving = createServingCertificate(ca, names);
    writeFileSync(files.key, serving.keyPem, { mode: 0o600 });
    writeFileSync(files.cert, serving.certPem);
  }
  return { caPem: ca.certPem, caFile: files.caCert, certPem: readFileSync(files.cert, 'utf8'), keyPem: readFileSync(files.key, 'utf8') };
}
