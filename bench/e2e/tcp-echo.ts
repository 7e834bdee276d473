/**
 * The round-trip baseline of the end-to-end benchmark: a plain Node TCP echo (no encryption, no
 * multiplexing), measured the way `roundTrip` measures the stacks. Run as a script, it serves
 * one echo listener, prints `{ "port": N }` and stops on `stop` from stdin.
 */
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { roundTripP50 } from '../harness.js';

/** Starts an echo listener on 127.0.0.1 (port 0). */
export async function startTcpEcho(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer({ noDelay: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
    s.pipe(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** p50 round trip (us) of a 32-byte request echoed by the listener on `port`, after a warm-up tenth. */
export async function tcpEchoRtt(port: number, n: number): Promise<number> {
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  await once(socket, 'connect');
  const it = socket[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  try {
    return await roundTripP50(n, Buffer.alloc(32, 7), (data) => void socket.write(data), () => it.next());
  } finally {
    socket.destroy();
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const echo = await startTcpEcho();
  process.stdout.write(`${JSON.stringify({ port: echo.port })}\n`);
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line === 'stop') void echo.close().then(() => process.exit(0));
  });
}
