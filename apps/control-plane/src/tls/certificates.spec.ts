import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkCertificateAuthority, createCertificateAuthority, ensureServingCertificate, randomSerialHex, readCertificateAuthorityFiles } from './certificates';

const dir = mkdtempSync(join(tmpdir(), 'portolan-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ensureServingCertificate', () => {
  it('makes a CA and a serving certificate it signed, for loopback names', () => {
    const material = ensureServingCertificate(dir, []);
    const ca = new X509Certificate(material.caPem);
    const serving = new X509Certificate(material.certPem);
    expect(ca.ca).toBe(true);
    expect(serving.ca).toBe(false);
    expect(serving.checkIssued(ca)).toBe(true);
    expect(serving.verify(ca.publicKey)).toBe(true);
    expect(serving.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(serving.checkHost('localhost')).toBe('localhost');
    expect(new Date(serving.validTo).getTime()).toBeGreaterThan(Date.now() + 365 * 24 * 3600 * 1000);
  });

  it('keeps the same material on the next start', () => {
    const first = ensureServingCertificate(dir, []);
    const second = ensureServingCertificate(dir, []);
    expect(second).toEqual(first);
  });

  it('re-issues the serving certificate from the same CA when a new name is asked for', () => {
    const first = ensureServingCertificate(dir, []);
    const second = ensureServingCertificate(dir, ['cp.example.com', '10.1.2.3']);
    expect(second.caPem).toBe(first.caPem);
    expect(second.certPem).not.toBe(first.certPem);
    const serving = new X509Certificate(second.certPem);
    expect(serving.checkHost('cp.example.com')).toBe('cp.example.com');
    expect(serving.checkIP('10.1.2.3')).toBe('10.1.2.3');
    expect(serving.checkIssued(new X509Certificate(second.caPem))).toBe(true);
  });
});

describe('a CA given to ensureServingCertificate (the operator\'s, or the one replicas share)', () => {
  it('signs the serving certificate, becomes the data directory\'s ca.crt, and sets the data directory\'s own CA aside until it is used again', () => {
    const own = mkdtempSync(join(tmpdir(), 'portolan-tls-given-'));
    try {
      const before = ensureServingCertificate(own, []);
      expect(existsSync(join(own, 'tls', 'ca.key'))).toBe(true);
      const shared = createCertificateAuthority();
      const after = ensureServingCertificate(own, [], shared);
      expect(after.caPem).toBe(shared.certPem);
      expect(after.certPem).not.toBe(before.certPem);
      expect(new X509Certificate(after.certPem).checkIssued(new X509Certificate(shared.certPem))).toBe(true);
      expect(readFileSync(after.caFile, 'utf8')).toBe(shared.certPem);
      expect(existsSync(join(own, 'tls', 'ca.key'))).toBe(false);
      expect(readFileSync(join(own, 'tls', 'local-ca.crt'), 'utf8')).toBe(before.caPem);
      // Two replicas given the same CA serve certificates one kubeconfig trusts.
      const other = mkdtempSync(join(tmpdir(), 'portolan-tls-given-'));
      try {
        const otherReplica = ensureServingCertificate(other, [], shared);
        expect(otherReplica.caPem).toBe(after.caPem);
        expect(new X509Certificate(otherReplica.certPem).verify(new X509Certificate(after.caPem).publicKey)).toBe(true);
      } finally {
        rmSync(other, { recursive: true, force: true });
      }
      // Same CA on the next start: nothing re-issued.
      expect(ensureServingCertificate(own, [], shared)).toEqual(after);
      // Back on the data directory's own CA: the one kubeconfigs made before trust, not a new one.
      const back = ensureServingCertificate(own, []);
      expect(back.caPem).toBe(before.caPem);
      expect(new X509Certificate(back.certPem).checkIssued(new X509Certificate(before.caPem))).toBe(true);
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
  });

  it('is checked before use, with errors that say what is wrong with which file', () => {
    const files = mkdtempSync(join(tmpdir(), 'portolan-tls-files-'));
    try {
      const ca = createCertificateAuthority();
      const other = createCertificateAuthority();
      const serving = ensureServingCertificate(files, []);
      const write = (name: string, text: string) => {
        writeFileSync(join(files, name), text);
        return join(files, name);
      };
      expect(readCertificateAuthorityFiles({ certFile: write('ca.pem', ca.certPem), keyFile: write('ca-key.pem', ca.keyPem) })).toEqual(ca);
      expect(() => readCertificateAuthorityFiles({ certFile: join(files, 'missing.pem'), keyFile: join(files, 'ca-key.pem') })).toThrow(/PORTOLAN_TLS_CA_CERT_FILE=.*cannot read .*missing\.pem \(ENOENT\)/);
      expect(() => checkCertificateAuthority({ certPem: ca.certPem, keyPem: other.keyPem }, 'test')).toThrow('test: the CA key does not belong to the CA certificate');
      expect(() => checkCertificateAuthority({ certPem: serving.certPem, keyPem: serving.keyPem }, 'test')).toThrow(/is not a CA certificate \(basicConstraints CA:TRUE is missing\)/);
      expect(() => checkCertificateAuthority({ certPem: 'garbage', keyPem: ca.keyPem }, 'test')).toThrow(/the CA certificate is not a PEM certificate/);
      expect(() => checkCertificateAuthority({ certPem: ca.certPem, keyPem: 'garbage' }, 'test')).toThrow(/the CA key is not a PEM private key/);
    } finally {
      rmSync(files, { recursive: true, force: true });
    }
  });
});

describe('randomSerialHex', () => {
  it('is 16 bytes whose first byte makes a positive, minimally encoded DER integer', () => {
    for (let i = 0; i < 200; i++) {
      const serial = Buffer.from(randomSerialHex(), 'hex');
      expect(serial.length).toBe(16);
      expect(serial[0]).toBeGreaterThan(0);
      expect(serial[0]).toBeLessThan(0x80);
    }
  });

  it('appears unchanged as the serial of the certificates', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portolan-serial-'));
    try {
      const material = ensureServingCertificate(dir, []);
      for (const pem of [material.caPem, material.certPem]) expect(new X509Certificate(pem).serialNumber).toMatch(/^(0[1-9A-F]|[1-7][0-9A-F])[0-9A-F]{30}$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
