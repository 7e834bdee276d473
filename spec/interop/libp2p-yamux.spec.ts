/**
 * Interop with an independent yamux (@chainsafe/libp2p-yamux), in-process over a duplex pair:
 * streams opened from both sides, 8 streams x 1 MB each way with checksums, half-close, reset.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { YamuxMuxer } from '../../channels/yamux/muxer.js';
import type { YamuxStream } from '../../channels/yamux/stream.js';
import { StreamReset } from '../../protocols/yamux/errors.js';
import { duplexPair } from '../../transports/memory/duplex-pair.js';
import { libp2pYamux, type Libp2pYamuxMuxer } from '../support/libp2p-yamux.js';
import { collect, sha } from '../support/streams.js';

/** A libp2p stream's bytes until the peer closes its side. */
async function readAll(stream: AsyncIterable<Uint8Array | { subarray(): Uint8Array }>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(Buffer.from(c instanceof Uint8Array ? c : c.subarray()));
  return Buffer.concat(parts);
}

async function libp2pSend(stream: { send(d: Uint8Array): boolean; onDrain(): Promise<void>; close(): Promise<void> }, data: Uint8Array): Promise<void> {
  for (let i = 0; i < data.length; i += 65536) if (!stream.send(data.subarray(i, i + 65536))) await stream.onDrain();
  await stream.close();
}

for (const oursIsClient of [true, false]) {
  describe(`interop with @chainsafe/libp2p-yamux (tcomms is the ${oursIsClient ? 'client' : 'server'})`, function () {
    this.timeout(30_000);
    let ours: YamuxMuxer;
    let theirs: Libp2pYamuxMuxer;
    let onInbound: (s: YamuxStream) => void;

    beforeEach(() => {
      const [a, b] = duplexPair();
      onInbound = (s) => s.destroy();
      ours = new YamuxMuxer(a, { client: oursIsClient, onStream: (s) => onInbound(s) });
      theirs = libp2pYamux(b, !oursIsClient);
      // Their inbound streams echo.
      theirs.addEventListener('stream', (evt) => {
        const s = evt.detail;
        void (async () => {
          for await (const c of s) if (!s.send(c)) await s.onDrain();
          await s.close();
        })().catch(() => {});
      });
    });
    afterEach(() => {
      ours.abort();
      theirs.abort(new Error('test over'));
    });

    it('8 streams opened by tcomms, 1 MB each way, checksums match', async () => {
      await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          const data = randomBytes(1024 * 1024 + i);
          const s = ours.newStream();
          const back = collect(s);
          s.end(data);
          expect(sha(await back)).to.equal(sha(data));
        }),
      );
    });

    it('8 streams opened by libp2p, 1 MB each way, checksums match (tcomms echoes)', async () => {
      onInbound = (s) => s.pipe(s);
      await Promise.all(
          Array.from({ length: 8 }, async (_, i) => {
            const data = randomBytes(1024 * 1024 + i);
            const s = await theirs.createStream();
            const back = readAll(s);
            await libp2pSend(s, data);
            expect(sha(await back)).to.equal(sha(data));
          }),
        );
    });

    it('half-close: tcomms ends its side and still reads the full echo', async () => {
      const s = ours.newStream();
      const back = collect(s);
      s.write('first part, ');
      s.end('then FIN');
      expect((await back).toString()).to.equal('first part, then FIN');
    });

    it('reset: libp2p aborting a stream resets it on tcomms; tcomms resetting aborts it on libp2p', async () => {
      const arrived = new Promise<YamuxStream>((resolve) => (onInbound = resolve));
      const t = await theirs.createStream();
      t.send(new TextEncoder().encode('hello'));
      const mine = await arrived;
      const err = new Promise((resolve) => mine.on('error', resolve));
      mine.resume();
      t.abort(new Error('bye'));
      expect(await err).to.be.instanceOf(StreamReset);

      const s = ours.newStream();
      s.on('error', () => {});
      s.write('x');
      await once(s, 'data');
      const theirStream = theirs.streams.find((x) => x.status === 'open' || x.status === 'closing');
      expect(theirStream).to.not.equal(undefined);
      const closed = new Promise((resolve) => theirStream!.addEventListener('close', resolve));
      s.destroy();
      await closed;
      expect(theirStream!.status).to.be.oneOf(['reset', 'aborted', 'closed']);
    });
  });
}
