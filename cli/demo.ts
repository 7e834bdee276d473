/**
 * `npm start`: what exists today, end to end. Two nodes with fresh identities meet over TCP
 * loopback: the initiator writes the wire byte, both run the Noise XX handshake (the initiator
 * checks it reached the key it dialed), exchange encrypted messages, and a third party with the
 * wrong key is refused before the initiator reveals itself. Later issues replace this with the
 * full node demo.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { NoiseSecureChannel, noiseStaticKeys } from '../channels/secure-channel.js';
import { toHex } from '../core/bytes.js';
import { NodeIdentity, type PublicKey } from '../core/keys.js';
import type { SecureDuplex } from '../channels/secure-duplex.js';

const NETWORK_BYTE = 0x00;

function log(line: string): void {
  process.stdout.write(line + '\n');
}

/** Resolve with the first line (or everything, at end), leaving the stream open. */
function readLine(stream: SecureDuplex): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.pause();
    };
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) {
        cleanup();
        resolve(text.slice(0, text.indexOf('\n')));
      }
    };
    const onEnd = () => {
      cleanup();
      resolve(text);
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}

/** A responder: reads the wire byte, runs the handshake, answers one message. */
function serve(identity: NodeIdentity, onSession: (s: SecureDuplex) => Promise<void>) {
  const channel = new NoiseSecureChannel({ staticKeys: noiseStaticKeys(identity), networkByte: NETWORK_BYTE });
  return createServer({ allowHalfOpen: true }, (socket: Socket) => {
    socket.once('readable', () => {
      const wire = socket.read(1) as Buffer | null;
      if (wire === null || wire[0] !== NETWORK_BYTE) return socket.destroy();
      channel.secureInbound(socket).then(onSession, () => socket.destroy());
    });
  });
}

async function dial(identity: NodeIdentity, port: number, dialedPublicKey: PublicKey): Promise<SecureDuplex> {
  const socket = connect({ host: '127.0.0.1', port, noDelay: true, allowHalfOpen: true });
  await once(socket, 'connect');
  socket.write(Uint8Array.of(NETWORK_BYTE));
  const channel = new NoiseSecureChannel({ staticKeys: noiseStaticKeys(identity), networkByte: NETWORK_BYTE });
  return channel.secureOutbound(socket, { dialedPublicKey });
}

async function main(): Promise<void> {
  const alice = NodeIdentity.generate();
  const bob = NodeIdentity.generate();
  log('tcomms demo: a Noise XX secure channel over TCP loopback');
  log(`  alice  public key ${toHex(alice.publicKey)}  NodeId ${toHex(alice.nodeId)}`);
  log(`  bob    public key ${toHex(bob.publicKey)}  NodeId ${toHex(bob.nodeId)}`);

  const server = serve(bob, async (s) => {
    const question = await readLine(s);
    s.end(`bob got ${JSON.stringify(question)} over an encrypted channel\n`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  log(`  bob listens on /ip4/127.0.0.1/tcp/${port}`);

  const t = performance.now();
  const secure = await dial(alice, port, bob.publicKey);
  log(`  alice dialed bob: wire byte 0x00, XX handshake done in ${(performance.now() - t).toFixed(1)} ms`);
  log(`  handshake hash ${toHex(secure.handshakeHash)}`);
  secure.write('hello bob\n');
  log(`  alice received: ${await readLine(secure)}`);
  secure.destroy();

  // Bulk: 64 MiB through the channel, checked end to end.
  const bulk = serve(bob, async (s) => {
    const hash = createHash('sha256');
    s.on('data', (chunk: Buffer) => hash.update(chunk));
    s.on('end', () => s.end(hash.digest('hex') + '\n'));
  });
  bulk.listen(0, '127.0.0.1');
  await once(bulk, 'listening');
  const bulkPort = (bulk.address() as { port: number }).port;
  const data = randomBytes(64 * 1024 * 1024);
  const stream = await dial(alice, bulkPort, bob.publicKey);
  const start = performance.now();
  for (let o = 0; o < data.length; o += 65536) if (!stream.write(data.subarray(o, o + 65536))) await once(stream, 'drain');
  stream.end();
  const digest = await readLine(stream);
  const seconds = (performance.now() - start) / 1000;
  const ok = digest === createHash('sha256').update(data).digest('hex');
  log(`  64 MiB sent encrypted in ${seconds.toFixed(2)} s (${(64 / seconds).toFixed(0)} MiB/s, both ends in this process), SHA-256 ${ok ? 'matches' : 'MISMATCH'}`);

  // An impostor: alice dials bob's key but mallory answers. Alice aborts after message 2.
  const mallory = NodeIdentity.generate();
  const fake = serve(mallory, async () => {});
  // The impostor's handshake ends when alice hangs up: expected, not worth a line.
  fake.on('connection', (socket: Socket) => socket.on('error', () => {}));
  fake.listen(0, '127.0.0.1');
  await once(fake, 'listening');
  try {
    await dial(alice, (fake.address() as { port: number }).port, bob.publicKey);
    log('  impostor: NOT detected');
    process.exitCode = 1;
  } catch (err) {
    log(`  impostor answering for bob: refused with ${(err as Error).name}, before alice sent her static key`);
  }
  for (const s of [server, bulk, fake]) s.close();
  if (!ok) process.exitCode = 1;
  log('done.');
}

main().catch((err: Error) => {
  process.stderr.write(`tcomms demo failed: ${err.name}: ${err.message}\n`);
  process.exit(1);
});
