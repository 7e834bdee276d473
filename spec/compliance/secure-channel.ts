/**
 * The secure-channel compliance suite: every SecureChannel implementation, over every kind
 * of connection, runs it. `setup` gives connected raw pairs and channels for identities.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { TcommsError } from '../../core/errors.js';
import { NodeIdentity } from '../../core/keys.js';
import { HandshakeTimeout, HandshakeAborted } from '../../channels/errors.js';
import type { SecureChannel } from '../../channels/secure-channel.js';
import type { SecureDuplex } from '../../channels/secure-duplex.js';
import { DecryptionFailed, DialedPublicKeyMismatch } from '../../protocols/noise/errors.js';
import { recordWrites } from '../support/recording.js';
import { sha } from '../support/streams.js';

export interface SecureChannelHarness {
  /** A connected raw pair: [initiator side, responder side]. */
  connect(): Promise<[Duplex, Duplex]>;
  /** A channel for `identity`, with the given receive timeout. */
  channel(identity: NodeIdentity, recvTimeoutMs?: number): SecureChannel;
}

export interface ComplianceHooks {
  setup(): Promise<SecureChannelHarness>;
  teardown(): Promise<void>;
}

async function drain(stream: Duplex): Promise<Buffer> {
  const parts: Buffer[] = [];
  stream.on('data', (d: Buffer) => parts.push(d));
  await once(stream, 'end');
  return Buffer.concat(parts);
}

async function writeAll(stream: Duplex, data: Buffer, chunkSizes: number[]): Promise<void> {
  let offset = 0;
  let i = 0;
  while (offset < data.length) {
    const size = chunkSizes[i++ % chunkSizes.length]!;
    if (!stream.write(data.subarray(offset, offset + size))) await once(stream, 'drain');
    offset += size;
  }
  stream.end();
}

async function expectRejects(p: Promise<unknown>, type: abstract new (...a: never[]) => Error): Promise<Error> {
  try {
    await p;
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(type);
    return err as Error;
  }
  expect.fail(`expected ${type.name}`);
}

export function secureChannelCompliance(name: string, hooks: ComplianceHooks): void {
  describe(`secure channel compliance: ${name}`, function () {
    this.timeout(30_000);
    let h: SecureChannelHarness;
    const alice = NodeIdentity.generate();
    const bob = NodeIdentity.generate();
    const open: Duplex[] = [];

    beforeEach(async () => {
      h = await hooks.setup();
    });
    afterEach(async () => {
      for (const s of open.splice(0)) s.destroy();
      await hooks.teardown();
    });

    async function pair(): Promise<[SecureDuplex, SecureDuplex]> {
      const [a, b] = await h.connect();
      open.push(a, b);
      const result = await Promise.all([
        h.channel(alice).secureOutbound(a, { dialedPublicKey: bob.publicKey }),
        h.channel(bob).secureInbound(b),
      ]);
      open.push(...result);
      return result;
    }

    it('completes the handshake; each side learns the other static key and the same hash', async () => {
      const [sa, sb] = await pair();
      expect(Buffer.from(sa.remoteStatic).equals(Buffer.from(bob.noisePublicKey))).to.equal(true);
      expect(Buffer.from(sb.remoteStatic).equals(Buffer.from(alice.noisePublicKey))).to.equal(true);
      expect(Buffer.from(sa.handshakeHash).equals(Buffer.from(sb.handshakeHash))).to.equal(true);
    });

    it('32 handshakes at once all complete, each with its own keys, and each channel carries data', async () => {
      const pairs = await Promise.all(Array.from({ length: 32 }, () => pair()));
      const hashes = new Set(pairs.map(([sa]) => Buffer.from(sa.handshakeHash).toString('hex')));
      expect(hashes.size, 'every handshake hash differs (fresh ephemeral keys)').to.equal(32);
      for (const [sa, sb] of pairs) expect(Buffer.from(sa.handshakeHash).equals(Buffer.from(sb.handshakeHash))).to.equal(true);
      const echoes = pairs.map(async ([sa, sb], i) => {
        const data = randomBytes(1000 + i);
        const [got] = await Promise.all([drain(sb), writeAll(sa, data, [333])]);
        expect(sha(got)).to.equal(sha(data));
      });
      await Promise.all(echoes);
    });

    it('destroying the channel with writes held back by a full connection fails their callbacks (none is left waiting)', async () => {
      const [sa, sb] = await pair();
      sb.pause(); // the peer reads nothing: the connection fills up
      sb.on('error', () => {}); // it sees the connection go: not this test's concern
      sa.on('error', () => {});
      const chunk = Buffer.alloc(256 * 1024);
      const results: Array<Promise<Error | null | undefined>> = [];
      for (let i = 0; i < 64; i++) results.push(new Promise((resolve) => sa.write(chunk, resolve)));
      await new Promise((r) => setTimeout(r, 100));
      sa.destroy();
      const settled = await Promise.race([Promise.all(results), new Promise<'hung'>((r) => setTimeout(() => r('hung'), 5_000))]);
      expect(settled, 'every write callback was called').to.not.equal('hung');
      expect((settled as Array<Error | null | undefined>).some((e) => e instanceof Error)).to.equal(true);
    });

    it('moves megabytes both ways at once with mixed write sizes, intact', async () => {
      const [sa, sb] = await pair();
      const up = randomBytes(3 * 1024 * 1024 + 17);
      const down = randomBytes(2 * 1024 * 1024 + 5);
      const [gotUp, gotDown] = await Promise.all([drain(sb), drain(sa), writeAll(sa, up, [1, 100, 65519, 65520, 200_000, 7]), writeAll(sb, down, [65536, 3, 1000])]);
      expect(sha(gotUp)).to.equal(sha(up));
      expect(sha(gotDown)).to.equal(sha(down));
    });

    it('half-close: the initiator ends its side and still reads the reply', async () => {
      const [sa, sb] = await pair();
      sa.end(Buffer.from('request'));
      const request = await drain(sb);
      expect(request.toString()).to.equal('request');
      const reply = drain(sa);
      sb.end(Buffer.from('reply after the peer half-closed'));
      expect((await reply).toString()).to.equal('reply after the peer half-closed');
    });

    it('backpressure: a reader that does not read stalls the writer with bounded buffering', async () => {
      const [sa, sb] = await pair();
      sb.pause();
      const chunk = Buffer.alloc(64 * 1024, 1);
      const limit = 64 * 1024 * 1024;
      let written = 0;
      let stalled = false;
      // Write until 'drain' stops coming: the reader's window, the socket buffers and ours are full.
      while (written < limit) {
        while (written < limit && sa.write(chunk)) written += chunk.length;
        written += chunk.length;
        const drained = await Promise.race([once(sa, 'drain').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 300))]);
        if (!drained) {
          stalled = true;
          break;
        }
      }
      expect(stalled, `writer never stalled after ${written} bytes`).to.equal(true);
      expect(written).to.be.below(32 * 1024 * 1024);
      expect(sa.writableLength + sb.readableLength).to.be.below(2 * 1024 * 1024);
      // Reading resumes the flow.
      const drained = once(sa, 'drain');
      sb.resume();
      await drained;
    });

    it('a dial to the wrong key fails with DialedPublicKeyMismatch before the initiator reveals itself (XX)', async () => {
      const [a, b] = await h.connect();
      open.push(a, b);
      const written = recordWrites(a);
      const mallory = NodeIdentity.generate();
      const responder = h.channel(mallory).secureInbound(b);
      await expectRejects(h.channel(alice).secureOutbound(a, { dialedPublicKey: bob.publicKey }), DialedPublicKeyMismatch);
      // Only message 1 (the ephemeral key) left the initiator: never message 3 with its static key.
      expect(written().length / 2).to.equal(2 + 32);
      const err = await expectRejects(responder, TcommsError);
      expect((err as TcommsError).kind).to.be.oneOf(['protocol', 'timeout']);
    });

    it('a silent peer: the receive times out with HandshakeTimeout', async () => {
      const [a, b] = await h.connect();
      open.push(a, b);
      await expectRejects(h.channel(bob, 150).secureInbound(b), HandshakeTimeout);
      await expectRejects(h.channel(alice, 150).secureOutbound(a), TcommsError);
    });

    it('a handshake that stalls half-way times out on the side left waiting', async () => {
      const [a, b] = await h.connect();
      open.push(a, b);
      const resp = h.channel(bob, 200).secureInbound(b);
      a.write(Buffer.from('0020' + '11'.repeat(32), 'hex')); // a well-formed message 1, then nothing
      await expectRejects(resp, HandshakeTimeout);
    });

    it('an AbortSignal cancels a pending handshake', async () => {
      const [a, b] = await h.connect();
      open.push(a, b);
      const controller = new AbortController();
      const p = h.channel(bob).secureInbound(b, { signal: controller.signal });
      setTimeout(() => controller.abort(), 20);
      await expectRejects(p, HandshakeAborted);
    });

    it('random bytes sent to a responder only cause typed errors', async () => {
      for (let i = 0; i < 40; i++) {
        const [a, b] = await h.connect();
        open.push(a, b);
        const resp = h.channel(bob, 300).secureInbound(b);
        const junk = randomBytes(1 + (i * 37) % 300);
        if (i % 2 === 0 && junk.length >= 2) junk.writeUInt16BE(32, 0); // sometimes a plausible length prefix
        a.end(junk);
        await expectRejects(resp, TcommsError);
      }
    });

    it('a tampered transport frame destroys the stream with DecryptionFailed', async () => {
      const [a, b] = await h.connect();
      open.push(a, b);
      const [sa, sb] = await Promise.all([h.channel(alice).secureOutbound(a), h.channel(bob).secureInbound(b)]);
      open.push(sa, sb);
      // Write a forged frame below the encryption layer.
      a.write(Buffer.concat([Buffer.from([0, 20]), randomBytes(20)]));
      const [err] = (await once(sb, 'error')) as [Error];
      expect(err).to.be.instanceOf(DecryptionFailed);
      expect(sb.destroyed).to.equal(true);
    });

    it('the peer closing mid-stream ends or errors the channel, never hangs', async () => {
      const [sa, sb] = await pair();
      const ended = new Promise<string>((resolve) => {
        sb.on('error', () => resolve('error'));
        sb.on('close', () => resolve('close'));
        // Over TCP a destroyed peer looks like a FIN: the readable side ends.
        sb.on('end', () => resolve('end'));
        sb.resume();
      });
      sa.write(Buffer.alloc(1000));
      sa.destroy();
      expect(await ended).to.be.oneOf(['error', 'close', 'end']);
    });
  });
}
