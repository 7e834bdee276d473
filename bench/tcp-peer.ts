/**
 * The receiving process of the two-process TCP benchmark. Listens on 127.0.0.1:0, prints its
 * port, then for each connection: optional Noise responder handshake, read to the end, and
 * print `{bytes, ms, firstGiBMs}` measured from the first byte: to the end, and to the end of
 * the first GiB (the warm-up of both processes is in it).
 */
import { createServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { NoiseSecureChannel, noiseStaticKeys } from '../channels/secure-channel.js';
import { NodeIdentity } from '../core/keys.js';
import { PoolExecutor } from '../workers/executor.js';

const GIB = 1024 * 1024 * 1024;
const mode = process.argv[2] ?? 'inline'; // raw | inline | pool | handshake | handshake-service | accept
const identity = NodeIdentity.fromSeed(new Uint8Array(32).fill(7));
const executor = mode === 'pool' || mode === 'handshake-service' ? new PoolExecutor({ threads: 1 }) : undefined;
const channel = new NoiseSecureChannel({
  staticKeys: noiseStaticKeys(identity),
  ...(executor === undefined ? {} : { executor, policy: mode === 'pool' ? { bulkPoolThreshold: 16 * 1024 } : { x25519OnPool: true } }),
});

const server = createServer({ allowHalfOpen: true }, (socket: Socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  if (mode === 'accept' || mode === 'handshake' || mode === 'handshake-service') {
    // Connection-rate modes: answer one byte once connected (accept) or once the responder's
    // side of the handshake is complete (handshake), then close.
    void (async () => {
      const stream: Duplex = mode === 'accept' ? socket : await channel.secureInbound(socket);
      stream.on('error', () => {});
      stream.end('k');
    })().catch(() => socket.destroy());
    return;
  }
  void (async () => {
    const stream: Duplex = mode === 'raw' ? socket : await channel.secureInbound(socket);
    stream.on('error', () => {});
    let bytes = 0;
    let start = 0;
    let firstGiBMs = 0;
    stream.on('data', (d: Buffer) => {
      if (start === 0) start = performance.now();
      bytes += d.length;
      if (firstGiBMs === 0 && bytes >= GIB) firstGiBMs = performance.now() - start;
    });
    stream.on('end', () => {
      process.stdout.write(JSON.stringify({ bytes, ms: performance.now() - start, firstGiBMs }) + '\n');
      stream.end();
    });
  })().catch(() => socket.destroy());
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as { port: number }).port }) + '\n');
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
