/**
 * Refusing a WebSocket upgrade before it is accepted: the socket is still plain HTTP, so the
 * refusal is an HTTP answer carrying the Status, written by hand (no response object exists yet).
 */
import type { Duplex } from 'node:stream';
import type { Status } from '@portolan/api';

export function refuseUpgrade(socket: Duplex, status: Status, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(status);
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  socket.end(`HTTP/1.1 ${status.code} ${status.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`);
}
