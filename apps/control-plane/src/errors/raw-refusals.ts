/**
 * Refusals written on the raw socket, before Express sees a request: requests Node's HTTP parser
 * cannot read, and WebSocket upgrades that are not valid handshakes. Node and `ws` answer those
 * themselves with a plain-text or empty body; these answer a Kubernetes Status, as every other
 * refusal of the API does.
 */
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import { failureStatus } from '@portolan/api';
import { refuseUpgrade } from './upgrade-refusal';

/** Answers what Node's HTTP parser refuses (a request line that is not HTTP, headers over its limit, a bad chunk) with a Status. */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    if (error.code === 'HPE_HEADER_OVERFLOW') refuseUpgrade(socket, failureStatus(431, 'BadRequest', 'the request line and headers are larger than the server reads (16 KiB)'));
    else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') refuseUpgrade(socket, failureStatus(408, 'BadRequest', 'the request was not received in time'));
    else refuseUpgrade(socket, failureStatus(400, 'BadRequest', `the request is not valid HTTP/1.1 (${error.code ?? error.message})`));
  });
}

/** Answers a WebSocket upgrade that is not a valid handshake (bad Sec-WebSocket-Key or version, another method) with a Status. */
export function answerHandshakeErrors(wss: WebSocketServer): void {
  wss.on('wsClientError', (error: Error, socket: Duplex) => refuseUpgrade(socket, failureStatus(400, 'BadRequest', `not a WebSocket handshake: ${error.message}`)));
}
