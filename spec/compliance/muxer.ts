/**
 * The muxer compliance suite: every stream muxer set-up (memory pair, TCP loopback, roles
 * reversed, over the secure channel) runs it. `connect` gives a connected pair of Duplexes,
 * the first one for the dialing (client) side.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { YamuxMuxer } from '../../channels/yamux/muxer.js';
import type { YamuxStream } from '../../channels/yamux/stream.js';
import { KeepaliveTimeout, MuxerClosed, StreamReset, YamuxProtocolError, type YamuxConfig } from '../../protocols/yamux/index.js';
import { recordWrites } from '../support/recording.js';
import { until } from '../support/wait.js';
import { collect, sha } from '../support/streams.js';

export interface MuxerComplianceHooks {
  /** A connected pair: [client side, server side]. */
  connect(): Promise<[Duplex, Duplex]>;
  /** Run the muxers with swapped roles: the accepting side is the yamux client. */
  reversed?: boolean;
}

/** Write `data` in chunks of mixed sizes, honouring backpressure, then end. */
async function send(stream: Duplex, data: Buffer, sizes = [1, 100, 4096, 65536, 200_000, 7]): Promise<void> {
  let off = 0;
  for (let i = 0; off < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    if (!stream.write(data.subarray(off, off + n))) await once(stream, 'drain');
    off += n;
  }
  stream.end();
}

/** Echo every inbound stream back to its opener. */
function echo(stream: YamuxStream): void {
  stream.on('error', () => {});
  stream.pipe(stream);
}

export function muxerCompliance(name: string, hooks: MuxerComplianceHooks): void {
  describe(`muxer compliance: ${name}`, function () {
    this.timeout(20_000);
    const open: YamuxMuxer[] = [];

    async function pair(config: Partial<YamuxConfig> = {}, onServerStream: (s: YamuxStream) => void = echo, serverConfig = config) {
      const [c, s] = await hooks.connect();
      const [clientConn, serverConn] = hooks.reversed ? [s, c] : [c, s];
      const client = new YamuxMuxer(clientConn, { client: true, config, onStream: echo });
      const server = new YamuxMuxer(serverConn, { client: false, config: serverConfig, onStream: onServerStream });
      open.push(client, server);
      return { client, server, clientConn, serverConn };
    }

    afterEach(() => {
      for (const m of open.splice(0)) m.abort();
    });

    it('opens streams from both sides and echoes data', async () => {
      const { client, server } = await pair();
      for (const m of [client, server]) {
        const stream = m.newStream();
        const got = collect(stream);
        stream.end('hello from ' + (m === client ? 'client' : 'server'));
        expect((await got).toString()).to.equal('hello from ' + (m === client ? 'client' : 'server'));
      }
      const [odd, even] = [client.newStream(), server.newStream()];
      expect([odd.id % 2, even.id % 2]).to.deep.equal([1, 0]);
      odd.destroy();
      even.destroy();
    });

    it('moves megabytes on many concurrent streams each way, intact', async () => {
      const { client, server } = await pair();
      const jobs: Promise<void>[] = [];
      for (let i = 0; i < 16; i++) {
        const m = i % 2 === 0 ? client : server;
        const data = randomBytes(1024 * 1024 + i * 997);
        const stream = m.newStream();
        const back = collect(stream);
        jobs.push(
          (async () => {
            await send(stream, data);
            expect(sha(await back)).to.equal(sha(data));
          })(),
        );
      }
      await Promise.all(jobs);
    });

    it('half-close: one side ends, keeps reading, and the other still answers', async () => {
      const { client } = await pair({}, (s) => {
        s.on('error', () => {});
        const parts: Buffer[] = [];
        s.on('data', (d: Buffer) => parts.push(d));
        s.on('end', () => s.end(Buffer.concat(parts).toString().toUpperCase()));
      });
      const stream = client.newStream();
      const reply = collect(stream);
      stream.end('quiet please');
      expect((await reply).toString()).to.equal('QUIET PLEASE');
    });

    it('backpressure: a reader that does not read stalls the writer at the window', async () => {
      let held: YamuxStream | undefined;
      const { client } = await pair({}, (s) => {
        held = s; // never read
        s.on('error', () => {});
      });
      const stream = client.newStream();
      stream.on('error', () => {});
      let accepted = 0;
      const chunk = Buffer.alloc(16 * 1024);
      // Write until the stream reports backpressure for good (bounded loop).
      for (let i = 0; i < 200; i++) {
        if (!stream.write(chunk)) {
          const drained = await Promise.race([once(stream, 'drain').then(() => true), new Promise((r) => setTimeout(() => r(false), 300))]);
          if (!drained) break;
        }
        accepted += chunk.length;
      }
      expect(accepted).to.be.lessThan(200 * chunk.length);
      // Bounded: one window in the peer's queue plus one readable buffer, and the writer's own buffer.
      expect(held!.queuedBytes + held!.readableLength).to.be.at.most(256 * 1024 + held!.readableHighWaterMark);
      expect(stream.writableLength).to.be.at.most(stream.writableHighWaterMark + chunk.length);
      // Reading releases the writer.
      const drained = once(stream, 'drain');
      held!.resume();
      await drained;
    });

    it('destroying a stream whose writes wait for window fails every one of their callbacks (none is left waiting)', async () => {
      const { client } = await pair({}, (s) => s.on('error', () => {})); // the peer never reads
      const stream = client.newStream();
      stream.on('error', () => {});
      const chunk = Buffer.alloc(64 * 1024);
      const results: Array<Promise<Error | null | undefined>> = [];
      for (let i = 0; i < 8; i++) results.push(new Promise((resolve) => stream.write(chunk, resolve)));
      await new Promise((r) => setTimeout(r, 50)); // the window (256 KiB) is used up: writes wait
      stream.destroy();
      const settled = await Promise.race([Promise.all(results), new Promise<'hung'>((r) => setTimeout(() => r('hung'), 5_000))]);
      expect(settled, 'every write callback was called').to.not.equal('hung');
      const errors = (settled as Array<Error | null | undefined>).filter((e) => e instanceof Error);
      expect(errors.length, 'the writes that never got window failed').to.be.greaterThan(0);
    });

    it('reset: destroying a stream gives the peer StreamReset and leaves other streams alone', async () => {
      let resetSeen: Promise<unknown> | undefined;
      const { client } = await pair({}, (s) => {
        if (resetSeen !== undefined) return echo(s);
        resetSeen = new Promise((resolve) => s.on('error', resolve));
        s.resume();
      });
      const doomed = client.newStream();
      doomed.write('x');
      await until('the peer has the stream', () => resetSeen !== undefined, 5_000);
      doomed.destroy();
      expect(await resetSeen).to.be.instanceOf(StreamReset);
      const other = client.newStream();
      const got = collect(other);
      other.end('still fine');
      expect((await got).toString()).to.equal('still fine');
    });

    it('the connection ends under open streams: they fail with MuxerClosed, a finished one does not, the session closes normally', async () => {
      const { client, clientConn } = await pair({}, (s) => {
        s.on('error', () => {});
        s.resume();
        if (s.id === 1) s.end('done'); // the first stream finishes both ways
      });
      const finished = client.newStream();
      const got = collect(finished);
      finished.end('x');
      expect((await got).toString()).to.equal('done');
      let finishedError: unknown;
      finished.on('error', (e) => (finishedError = e));
      const live = client.newStream();
      live.write('y');
      const failed = new Promise<unknown>((resolve) => live.on('error', resolve));
      const closed = once(client, 'close');
      clientConn.destroy();
      const err = await failed;
      expect(err).to.be.instanceOf(MuxerClosed);
      expect((err as Error).message).to.match(/the connection (ended|closed)/);
      expect((await closed)[0], 'a normal close reports no error').to.equal(undefined);
      expect(client.closed).to.equal(true);
      expect(finishedError).to.equal(undefined);
    });

    it('ping: both sides measure a round trip', async () => {
      const { client, server } = await pair();
      expect(await client.ping(2000)).to.be.a('number');
      expect(await server.ping(2000)).to.be.a('number');
    });

    it('streams are forgotten once closed both ways; hundreds open and close without leaking', async () => {
      const { client, server } = await pair();
      for (let round = 0; round < 4; round++) {
        await Promise.all(
          Array.from({ length: 100 }, async () => {
            const s = client.newStream();
            const got = collect(s);
            s.end('x');
            await got;
          }),
        );
      }
      await new Promise((r) => setImmediate(r));
      expect(client.streamCount).to.equal(0);
      expect(server.streamCount).to.equal(0);
    });

    it('inbound stream limit: streams beyond it are reset', async () => {
      const { client } = await pair({}, (s) => s.on('error', () => {}), { maxInboundStreams: 3 });
      const streams = Array.from({ length: 4 }, () => {
        const s = client.newStream();
        s.on('error', () => {});
        s.write('open');
        return s;
      });
      const err = await new Promise((resolve) => streams[3]!.on('error', resolve));
      expect(err).to.be.instanceOf(StreamReset);
      for (const s of streams.slice(0, 3)) expect(s.destroyed).to.equal(false);
    });

    it('graceful close: GoAway(0), an open stream finishes within the grace period, both sides close', async () => {
      const { client, server } = await pair();
      const stream = client.newStream();
      const got = collect(stream);
      stream.write('before close;');
      await once(stream, 'data'); // the server has the stream open
      const closing = server.close(2000);
      stream.end('after');
      expect((await got).toString()).to.equal('before close;after');
      await closing;
      expect(await client.closedPromise).to.equal(undefined);
      expect(server.closed && client.closed).to.equal(true);
      expect(() => client.newStream()).to.throw();
    });

    it('a protocol violation: GoAway(1) on the wire, the session closes with YamuxProtocolError', async () => {
      const [c, s] = await hooks.connect();
      const [raw, conn] = hooks.reversed ? [s, c] : [c, s];
      const written = recordWrites(conn);
      const muxer = new YamuxMuxer(conn, { client: false, config: { violationCloseMs: 200 } });
      open.push(muxer);
      raw.on('data', () => {});
      raw.on('error', () => {});
      raw.write(Buffer.from('0900000000000001000000000000', 'hex')); // version 9
      const reason = await muxer.closedPromise;
      expect(reason).to.be.instanceOf(YamuxProtocolError);
      expect(written()).to.equal('000300000000000000000001');
      raw.destroy();
    });

    it('keepalive: a peer that never answers pings is dropped after 3 missed', async () => {
      const [c, s] = await hooks.connect();
      const [raw, conn] = hooks.reversed ? [s, c] : [c, s];
      raw.on('data', () => {}); // reads, never answers
      raw.on('error', () => {});
      const muxer = new YamuxMuxer(conn, { client: true, config: { keepaliveIntervalMs: 30 } });
      open.push(muxer);
      const reason = await muxer.closedPromise;
      expect(reason).to.be.instanceOf(KeepaliveTimeout);
      raw.destroy();
    });

    it('keepalive pings between two live muxers keep the session up', async () => {
      const { client, server } = await pair({ keepaliveIntervalMs: 50 });
      const rtts: number[] = [];
      client.on('rtt', (ms) => rtts.push(ms));
      while (rtts.length < 5) await once(client, 'rtt');
      expect(client.closed || server.closed).to.equal(false);
    });
  });
}
