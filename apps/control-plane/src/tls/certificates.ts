/**
 * The API is served over HTTPS because kubectl only sends bearer tokens to https:// servers. Each
 * replica serves a certificate of its own, signed by the control plane's CA, which is embedded in
 * the kubeconfig it prints and trusted by gateways. The CA is, in order:
 *  - the operator's (PORTOLAN_TLS_CA_CERT_FILE and PORTOLAN_TLS_CA_KEY_FILE, e.g. from a
 *    Kubernetes Secret, as Istio's plugged-in `cacerts`);
 *  - on Consul, one shared by every replica (tls/consul-certificate-authority.ts), so a client
 *    that trusts it can reach any replica behind one load balancer;
 *  - on the embedded store, one made at first start and kept in the data directory.
 * node-forge builds the X.509 structures (Node's crypto can make keys but not certificates); keys
 * come from Node's crypto, which is much faster than forge's pure-JS RSA.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';

/** A CA certificate and its private key, both PEM. */
export interface CertificateAuthority {
  certPem: string;
  keyPem: string;
}

export class CertificateAuthorityError extends Error {
  readonly code = 'PORTOLAN_TLS_CA_INVALID';
}

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

export function createCertificateAuthority(): CertificateAuthority {
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

function createServingCertificate(ca: CertificateAuthority, names: string[]): { certPem: string; keyPem: string } {
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
 * Checks that `ca` can sign serving certificates: a CA certificate, still valid, whose key is the
 * one given. `source` names where it came from, for the error.
 */
export function checkCertificateAuthority(ca: CertificateAuthority, source: string): CertificateAuthority {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(ca.certPem);
  } catch (error) {
    throw new CertificateAuthorityError(`${source}: the CA certificate is not a PEM certificate (${(error as Error).message})`);
  }
  if (!certificate.ca) throw new CertificateAuthorityError(`${source}: the certificate (${certificate.subject.replace(/\n/g, ', ')}) is not a CA certificate (basicConstraints CA:TRUE is missing)`);
  if (new Date(certificate.validTo).getTime() <= Date.now()) throw new CertificateAuthorityError(`${source}: the CA certificate expired on ${certificate.validTo}`);
  let matches: boolean;
  try {
    matches = certificate.checkPrivateKey(createPrivateKey(ca.keyPem));
  } catch (error) {
    throw new CertificateAuthorityError(`${source}: the CA key is not a PEM private key (${(error as Error).message})`);
  }
  if (!matches) throw new CertificateAuthorityError(`${source}: the CA key does not belong to the CA certificate`);
  return ca;
}

/** The operator's CA from two PEM files (certificate, key). */
export function readCertificateAuthorityFiles(files: { certFile: string; keyFile: string }): CertificateAuthority {
  const source = `PORTOLAN_TLS_CA_CERT_FILE=${files.certFile}, PORTOLAN_TLS_CA_KEY_FILE=${files.keyFile}`;
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new CertificateAuthorityError(`${source}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  };
  return checkCertificateAuthority({ certPem: read(files.certFile), keyPem: read(files.keyFile) }, source);
}

function signedBy(certPem: string, caPem: string): boolean {
  const certificate = new X509Certificate(certPem);
  const ca = new X509Certificate(caPem);
  return certificate.checkIssued(ca) && certificate.verify(ca.publicKey);
}

/**
 * The CA and this replica's serving certificate, kept in `<dataDir>/tls`. Without `authority`,
 * the CA is the data directory's, made on first start. With one, its certificate is `ca.crt`
 * (what `portolan kubeconfig` embeds) and its key is not written here; the data directory's own
 * CA is set aside as `local-ca.crt`/`local-ca.key` and comes back when the control plane runs
 * without `authority` again, so kubeconfigs and gateways that trust it keep working then. The
 * serving certificate is re-issued when it lacks a name asked for or another CA signed it.
 */
export function ensureServingCertificate(dataDir: string, extraNames: string[], authority?: CertificateAuthority): ServingCertificate {
  const dir = join(dataDir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = { caCert: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
  const setAside = { caCert: join(dir, 'local-ca.crt'), caKey: join(dir, 'local-ca.key') };
  let ca: CertificateAuthority;
  if (authority) {
    ca = authority;
    if (existsSync(files.caKey)) {
      renameSync(files.caKey, setAside.caKey);
      renameSync(files.caCert, setAside.caCert);
    }
    if (!existsSync(files.caCert) || readFileSync(files.caCert, 'utf8') !== ca.certPem) writeFileSync(files.caCert, ca.certPem);
  } else {
    if (!existsSync(files.caKey) && existsSync(setAside.caKey)) {
      renameSync(setAside.caCert, files.caCert);
      renameSync(setAside.caKey, files.caKey);
    }
    if (!existsSync(files.caCert) || !existsSync(files.caKey)) {
      const created = createCertificateAuthority();
      writeFileSync(files.caKey, created.keyPem, { mode: 0o600 });
      writeFileSync(files.caCert, created.certPem);
    }
    ca = { certPem: readFileSync(files.caCert, 'utf8'), keyPem: readFileSync(files.caKey, 'utf8') };
  }
  const names = [...new Set(['localhost', '127.0.0.1', '::1', ...extraNames])];
  const current = existsSync(files.cert) && existsSync(files.key) ? readFileSync(files.cert, 'utf8') : undefined;
  if (!current || !names.every((name) => subjectAltNames(current).includes(name)) || !signedBy(current, ca.certPem)) {
    const serving = createServingCertificate(ca, names);
    writeFileSync(files.key, serving.keyPem, { mode: 0o600 });
    writeFileSync(files.cert, serving.certPem);
  }
  return { caPem: ca.certPem, caFile: files.caCert, certPem: readFileSync(files.cert, 'utf8'), keyPem: readFileSync(files.key, 'utf8') };
}
