import { mkdtempSync, rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureServingCertificate, randomSerialHex } from './certificates';

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
