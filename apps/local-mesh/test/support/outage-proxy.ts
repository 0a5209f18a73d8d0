/**
 * A TCP proxy between gateways and the control plane, to cut the control plane off without
 * touching it: `forward` passes bytes both ways (TLS untouched), `refuse` resets every connection
 * (what a stopped control plane or a rejecting firewall looks like to the gateway), `blackhole`
 * accepts and never answers (a firewall that drops, a hung process: every attempt waits out its own
 * timeout). It keeps its port throughout, so no other socket can take it during an outage.
 *
 * It records when it accepted each connection and whether the TLS ClientHello offered ALPN: the
 * agent's HTTP calls (undici: heartbeats, long-polls, ACKs) do, the `ws` client of the config
 * stream does not, which tells the stream's reconnections apart from heartbeats.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface AcceptedConnection {
  at: number;
  /** Whether the ClientHello offered ALPN; undefined when the client sent no complete ClientHello. */
  alpn: boolean | undefined;
}

/** ALPN is TLS extension 16 (RFC 7301). */
const ALPN_EXTENSION = 0x0010;
const MAX_HELLO_BYTES = 16 * 1024;

/**
 * Whether a TLS ClientHello (the first bytes a client sends) offers ALPN; undefined while the
 * record is incomplete or when the bytes are not a ClientHello.
 */
export function offersAlpn(hello: Buffer): boolean | undefined {
  if (hello.length < 5 || hello[0] !== 0x16) return undefined;
  const end = 5 + hello.readUInt16BE(3);
  if (hello.length < end || hello[5] !== 0x01) return undefined;
  const record = hello.subarray(0, end);
  try {
    // handshake type and length (4), client version (2), random (32)
    let offset = 5 + 4 + 2 + 32;
    offset += 1 + record[offset]; // session id
    offset += 2 + record.readUInt16BE(offset); // cipher suites
    offset += 1 + record[offset]; // compression methods
    if (offset + 2 > end) return false;
    const extensionsEnd = Math.min(end, offset + 2 + record.readUInt16BE(offset));
    for (offset += 2; offset + 4 <= extensionsEnd; offset += 4 + record.readUInt16BE(offset + 2)) {
      if (record.readUInt16BE(offset) === ALPN_EXTENSION) return true;
    }
    return false;
  } catch {
    // A length pointing past the record: not a ClientHello this can read.
    return false;
  }
}

export class OutageProxy {
  readonly accepted: AcceptedConnection[] = [];
  private mode: 'forward' | 'refuse' | 'blackhole' = 'forward';
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((client) => this.accept(client));
  }

  get url(): string {
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => this.server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
    return this;
  }

  /** Drops every connection through it and resets every new one. */
  refuse(): void {
    this.switchTo('refuse');
  }

  /** Drops every connection through it, then accepts new ones and holds them without a byte of answer. */
  blackhole(): void {
    this.switchTo('blackhole');
  }

  /** Drops the held connections (each client sees its attempt fail) and forwards again. */
  forward(): void {
    this.switchTo('forward');
  }

  async close(): Promise<void> {
    this.switchTo('refuse');
    await new Promise((resolve) => this.server.close(resolve));
  }

  private switchTo(mode: OutageProxy['mode']): void {
    this.mode = mode;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
  }

  private accept(client: Socket): void {
    const mode = this.mode;
    if (mode === 'refuse') {
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    const record: AcceptedConnection = { at: Date.now(), alpn: undefined };
    this.accepted.push(record);
    this.track(client);
    let hello = Buffer.alloc(0);
    let upstream: Socket | undefined;
    const onData = (chunk: Buffer) => {
      hello = Buffer.concat([hello, chunk]);
      record.alpn = offersAlpn(hello);
      if (mode === 'blackhole' || (record.alpn === undefined && hello.length < MAX_HELLO_BYTES)) return;
      client.off('data', onData);
      client.pause();
      upstream = connect(this.target.port, this.target.host, () => {
        upstream!.write(hello);
        client.pipe(upstream!);
        upstream!.pipe(client);
        client.resume();
      });
      this.track(upstream);
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream?.destroy());
    };
    client.on('data', onData);
  }
}
