/**
 * Certificates for delegation tests: a front-proxy CA and its client certificate as kubeadm makes
 * them (CN front-proxy-client, extended key usage clientAuth), and whatever else a test needs to
 * be refused (another CA, an expired certificate, a server-only one); gateways' client
 * certificates with their SPIFFE IDs too. node-forge builds them, as tls/certificates.ts does.
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

type KeyPair = ReturnType<typeof keyPair>;

let clientKeys: KeyPair | undefined;
/**
 * One key pair for every client certificate of a test run: RSA key generation is the slow part (a
 * second under load), and what a client certificate is refused for never depends on its key.
 * Every CA gets its own: "another CA with the same name" must differ in its key.
 */
const sharedClientKeys = (): KeyPair => (clientKeys ??= keyPair());

function issue(subject: string, issuer: TestCertificate | undefined, extensions: object[], validity: Validity, keys: KeyPair = keyPair()): TestCertificate {
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

export interface ClientCertificateOptions extends Validity {
  /** The extended key usage; `none` leaves the extension out. Default clientAuth. */
  usage?: 'clientAuth' | 'serverAuth' | 'none';
  /** URI SANs, such as a gateway's SPIFFE ID. */
  uris?: string[];
  /** DNS SANs. */
  dnsNames?: string[];
}

export function testClientCertificate(issuer: TestCertificate, commonName: string, options: ClientCertificateOptions = {}): TestCertificate {
  const usage = options.usage ?? 'clientAuth';
  const altNames = [...(options.uris ?? []).map((value) => ({ type: 6, value })), ...(options.dnsNames ?? []).map((value) => ({ type: 2, value }))];
  return issue(
    commonName,
    issuer,
    [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      ...(usage === 'none' ? [] : [{ name: 'extKeyUsage', [usage]: true }]),
      ...(altNames.length > 0 ? [{ name: 'subjectAltName', altNames }] : []),
    ],
    options,
    sharedClientKeys(),
  );
}
