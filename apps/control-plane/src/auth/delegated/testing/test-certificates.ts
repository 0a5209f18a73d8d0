/**
 * Certificates for delegation tests: a front-proxy CA and its client certificate as kubeadm makes
 * them (CN front-proxy-client, extended key usage clientAuth), and whatever else a test needs to
 * be refused (another CA, an expired certificate, a server-only one). node-forge builds them, as
 * tls/certificates.ts does.
 */
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';
import { randomSerialHex } from '../../../tls/certificates';

export interface TestCertificate {
  certPem: string;
  keyPem: string;
  /** The certificate, for signing others. */
  forge: forge.pki.Certificate;
}

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
  };
}

interface Validity {
  notBefore?: Date;
  notAfter?: Date;
}

function issue(subject: string, issuer: TestCertificate | undefined, extensions: object[], validity: Validity): TestCertificate {
  const keys = keyPair();
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = keys.publicKey;
  certificate.serialNumber = randomSerialHex();
  certificate.validity.notBefore = validity.notBefore ?? new Date(Date.now() - 60_000);
  certificate.validity.notAfter = validity.notAfter ?? new Date(Date.now() + 24 * 3600_000);
  const name = [{ name: 'commonName', value: subject }];
  certificate.setSubject(name);
  certificate.setIssuer(issuer ? issuer.forge.subject.attributes : name);
  certificate.setExtensions(extensions);
  const signingKey = issuer ? issuer.keyPem : keys.keyPem;
  certificate.sign(forge.pki.privateKeyFromPem(signingKey), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(certificate), keyPem: keys.keyPem, forge: certificate };
}

const CA_EXTENSIONS = [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }, { name: 'subjectKeyIdentifier' }];

export function testCertificateAuthority(commonName: string, validity: Validity = {}): TestCertificate {
  return issue(commonName, undefined, CA_EXTENSIONS, validity);
}

/** An intermediate CA signed by `issuer`. */
export function testIntermediateAuthority(issuer: TestCertificate, commonName: string): TestCertificate {
  return issue(commonName, issuer, CA_EXTENSIONS, {});
}

export function testClientCertificate(issuer: TestCertificate, commonName: string, options: Validity & { usage?: 'clientAuth' | 'serverAuth' } = {}): TestCertificate {
  const usage = options.usage ?? 'clientAuth';
  return issue(
    commonName,
    issuer,
    [{ name: 'basicConstraints', cA: false }, { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true }, { name: 'extKeyUsage', [usage]: true }],
    options,
  );
}
