/**
 * The yamux shell against hostile peers: memory a peer makes this side hold is charged by the
 * buffers it keeps alive and bounded by the connection's budget; a peer that sends Pings and
 * reads nothing gets no more answers once the output is at its bound, and is then dropped; Pings
 * are answered at a bounded rate, and a flood of them is a violation.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { MemoryBudget } from '../../core/budget.js';
import { NodeIdentity } from '../../core/keys.js';
import { NoiseSecureChannel, noiseStaticKeys } from '../../channels/secure-channel.js';
import { YamuxMuxer } from '../../channels/yamux/muxer.js';
import { TurnBudget } from '../../channels/turn-budget.js';
import { ENTRY_OVERHEAD, ReceiveQueue } from '../../channels/yamux/receive-queue.js';
import type { YamuxStream } from '../../channels/yamux/stream.js';
import { Flag, FrameType, HEADER_LENGTH, PeerNotReading, YamuxProtocolError } from '../../protocols/yamux/index.js';
import { duplexPair } from '../../transports/memory/duplex-pair.js';
import { collect } from '../support/streams.js';
import { until } from '../support/wait.js';
import { collector } from '../support/gc.js';
import { yamuxFrame as frame } from '../support/yamux.js';

describe('yamux against hostile peers', function () {
  this.timeout(20_000);
  const open: Array<{ destroy(): void } | YamuxMuxer> = [];
  afterEach(() => {
    for (const x of open.splice(0)) (x instanceof YamuxMuxer ? x.abort() : x.destroy());
  });

  /** Two ends of a Noise channel over a memory pair (closed after the test). */
  async function noisePair() {
    const [rawA, rawB] = duplexPair();
    open.push(rawA, rawB);
    const pair = await Promise.all([
      new NoiseSecureChannel({ staticKeys: noiseStaticKeys(NodeIdentity.generate()) }).secureOutbound(rawA),
      new NoiseSecureChannel({ staticKeys: noiseStaticKeys(NodeIdentity.generate()) }).secureInbound(rawB),
    ]);
    open.push(...pair);
    return Object.assign(pair, { raw: [rawA, rawB] as const });
  }

  it('the receive queue copies a small view out of a large buffer, gathers small copies, and charges what is kept alive', () => {
    const budget = new MemoryBudget(1 << 30);
    const q = new ReceiveQueue(budget);
    let handedOut = 0; // charges shift() handed over (the caller's to release)
    const take = () => {
      const chunk = q.shift()!;
      handedOut += q.lastCharge;
      return chunk;
    };
    const big = Buffer.alloc(65536);
    for (let i = 0; i < 1000; i++) q.push(big.subarray(i, i + 1)); // 1,000 bytes, each a view of 64 KiB
    expect(q.length).to.equal(1000);
    expect(budget.used, 'a gathering buffer, not 1,000 x 64 KiB').to.be.at.most(2048 + ENTRY_OVERHEAD);
    const whole = Buffer.alloc(40_000);
    q.push(whole); // most of its buffer: kept by reference, charged its buffer
    expect(budget.used).to.be.at.most(2048 + 40_000 + 2 * ENTRY_OVERHEAD);
    const gathered = take();
    expect(gathered.length).to.equal(1000);
    expect(gathered.buffer.byteLength, 'the gathering buffer').to.equal(1024);
    expect(q.lastCharge).to.equal(1024 + ENTRY_OVERHEAD);
    expect(take()).to.equal(whole);
    q.push(big.subarray(0, 3));
    const lone = take();
    expect(lone.buffer.byteLength, 'a mostly empty gathering buffer is cut to size when it leaves').to.equal(3);
    expect(q.lastCharge).to.equal(3 + ENTRY_OVERHEAD);
    q.push(big.subarray(0, 10_000)); // a larger copy gets a buffer of its own
    expect(take().buffer.byteLength).to.equal(10_000);
    q.push(big.subarray(0, 5));
    expect(budget.used).to.be.above(handedOut);
    q.clear();
    expect(budget.used, 'only what shift() handed over is still charged').to.equal(handedOut);
    expect(q.length).to.equal(0);
  });

  it('one useful byte per Noise message, the rest a Data frame for a stream the victim reads and drops: what the victim holds stays bounded', async () => {
    const gc = collector();
    const [attacker, victimConn] = await noisePair();
    attacker.on('data', () => {});
    const streams: YamuxStream[] = [];
    const victim = new YamuxMuxer(victimConn, {
      client: false,
      config: { keepaliveIntervalMs: 0 },
      onStream: (s) => {
        s.on('error', () => {});
        streams.push(s); // stream 1 is never read: what arrives is held
        if (streams.length === 2) s.on('data', () => {}); // stream 3 is read and its bytes dropped
      },
    });
    open.push(victim);
    // Stream 1 is kept; stream 3 carries the padding, read and dropped (its window keeps being credited back).
    attacker.write(Buffer.concat([frame(FrameType.WindowUpdate, Flag.SYN, 1, 0), frame(FrameType.WindowUpdate, Flag.SYN, 3, 0)]));
    await new Promise((r) => setImmediate(r)); // that write leaves as its own message
    const MESSAGES = 1000;
    const PLAINTEXT = 65519; // one full Noise message per write
    const padding = PLAINTEXT - 2 * HEADER_LENGTH - 1;
    const message = Buffer.concat([frame(FrameType.Data, 0, 1, 1, Uint8Array.of(7)), frame(FrameType.Data, 0, 3, padding), Buffer.alloc(padding)]);
    expect(message.length).to.equal(PLAINTEXT);
    for (let i = 0; i < 2; i++) {
      gc?.();
      await new Promise((r) => setTimeout(r, 5));
    }
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < MESSAGES; i++) if (!attacker.write(message)) await once(attacker, 'drain');
    await until('the victim has every useful byte', () => streams[0] !== undefined && streams[0].queuedBytes === MESSAGES, 15_000);
    const held = streams[0]!;
    // 1,000 bytes held: charged a gathering buffer or two, not 1,000 x 64 KiB (about 63 MiB).
    expect(held.heldBytes).to.be.at.most(64 * 1024);
    expect(victim.memory.used).to.be.at.most(128 * 1024);
    if (gc !== undefined) {
      // Freed buffers leave the count when V8's concurrent sweeper gets to them: collect a few times.
      for (let i = 0; i < 4; i++) {
        gc();
        await new Promise((r) => setTimeout(r, 5));
      }
      const grown = process.memoryUsage().arrayBuffers - before;
      expect(grown, `${grown} bytes of buffers still alive`).to.be.below(16 * 1024 * 1024);
    }
    // Reading it gives the bytes and releases their charge.
    held.resume();
    await until('the reader took them', () => held.heldBytes === 0);
  });

  it('Data for a stream the attacker itself reset is sending beyond its window: the connection fails at the first frame', async () => {
    const pair = await noisePair();
    const [attacker, victimConn] = pair;
    const victimRaw = pair.raw[1];
    attacker.on('data', () => {});
    attacker.on('error', () => {});
    const victim = new YamuxMuxer(victimConn, { client: false, config: { keepaliveIntervalMs: 0 }, onStream: (s) => void s.on('error', () => {}) });
    open.push(victim);
    let closedWith: unknown = null;
    victim.once('close', (err?: Error) => (closedWith = err));
    let decrypted = 0;
    victimConn.on('data', (d: Buffer) => (decrypted += d.length));
    attacker.write(Buffer.concat([frame(FrameType.WindowUpdate, Flag.SYN, 1, 0), frame(FrameType.WindowUpdate, Flag.RST, 1, 0)]));
    await new Promise((r) => setImmediate(r));
    const padding = 65519 - HEADER_LENGTH;
    const flood = Buffer.concat([frame(FrameType.Data, 0, 1, padding), Buffer.alloc(padding)]);
    let read = 0;
    const rawRead = victimRaw.read.bind(victimRaw);
    victimRaw.on('data', (d: Buffer) => (read += d.length));
    void rawRead;
    for (let i = 0; i < 64; i++) attacker.write(flood); // 4 MiB, where the victim may take none
    await until('the victim closed the connection', () => closedWith !== null, 10_000);
    expect(closedWith).to.be.instanceOf(YamuxProtocolError);
    expect((closedWith as YamuxProtocolError).violation).to.equal('window-exceeded');
    // After the violation the victim drops what follows undecrypted (it only waits for the
    // EOF), and stops reading after 1 MiB of it: the deadline closes the connection.
    expect(decrypted, `${decrypted} bytes decrypted of ${64 * flood.length}`).to.be.below(16 * flood.length);
    expect(read, `${read} bytes read of ${64 * flood.length}`).to.be.below(1024 * 1024 + 20 * flood.length);
  });

  it('past its budget the connection is not read; the reader taking data resumes it, and nothing is lost', async () => {
    const [c, s] = duplexPair();
    open.push(c, s);
    let held: YamuxStream | undefined;
    const client = new YamuxMuxer(c, { client: true, config: { keepaliveIntervalMs: 0 } });
    const server = new YamuxMuxer(s, {
      client: false,
      config: { keepaliveIntervalMs: 0, maxConnectionMemory: 64 * 1024 },
      onStream: (st) => {
        held = st; // not read for now
        st.on('error', () => {});
      },
    });
    open.push(client, server);
    const stream = client.newStream();
    const data = Buffer.alloc(200 * 1024, 1); // within the stream's window, beyond the budget
    stream.end(data);
    await until('the server stops reading', () => server.readPaused);
    expect(server.memory.exceeded).to.equal(true);
    // Bounded by the budget plus what one read of the connection brought.
    expect(server.memory.used).to.be.at.most(64 * 1024 + 64 * 1024 + 2 * ENTRY_OVERHEAD);
    const got = collect(held!);
    expect((await got).length).to.equal(data.length);
    expect(server.readPaused).to.equal(false);
    await until('charges released', () => server.memory.used === 0);
  });

  it('a connection budget counts against the node budget, and a closed connection gives everything back', async () => {
    const node = new MemoryBudget(10 * 1024 * 1024);
    const pairs = [duplexPair(), duplexPair()];
    const servers: YamuxMuxer[] = [];
    for (const [c, s] of pairs) {
      open.push(c, s);
      const client = new YamuxMuxer(c, { client: true, config: { keepaliveIntervalMs: 0 } });
      const server = new YamuxMuxer(s, { client: false, budget: node, config: { keepaliveIntervalMs: 0 }, onStream: (st) => st.on('error', () => {}) });
      open.push(client, server);
      servers.push(server);
      const st = client.newStream();
      st.on('error', () => {});
      st.write(Buffer.alloc(100_000, 2));
    }
    await until('both hold their data', () => servers.every((m) => m.memory.used >= 100_000));
    expect(node.used).to.equal(servers[0]!.memory.used + servers[1]!.memory.used);
    servers[0]!.abort();
    expect(node.used).to.equal(servers[1]!.memory.used);
    servers[1]!.abort();
    expect(node.used).to.equal(0);
  });

  for (const over of ['a memory pair', 'the Noise channel over a memory pair'] as const) {
    it(`a Ping flood over ${over} from a peer that reads nothing: the victim stops reading at the bound, never queues more, then drops the peer`, async () => {
      const [rawA, rawB] = duplexPair();
      open.push(rawA, rawB);
      let attacker: Duplex = rawA;
      let conn: Duplex = rawB;
      if (over !== 'a memory pair') {
        [attacker, conn] = await Promise.all([
          new NoiseSecureChannel({ staticKeys: noiseStaticKeys(NodeIdentity.generate()) }).secureOutbound(rawA),
          new NoiseSecureChannel({ staticKeys: noiseStaticKeys(NodeIdentity.generate()) }).secureInbound(rawB),
        ]);
        open.push(attacker, conn); // the attacker's channel decrypts until its buffer is full, then reads nothing
      }
      attacker.on('error', () => {});
      const bound = 64 * 1024;
      // No Ping rate here: the output bound alone (a rate would cut the flood off long before it).
      const victim = new YamuxMuxer(conn, { client: false, config: { keepaliveIntervalMs: 0, maxPendingOutput: bound, outputStallMs: 300, pingsPerSecond: 0 } });
      open.push(victim);
      // Every time the victim writes, and after each read, note how much it has queued.
      let most = 0;
      let pausedSeen = false;
      const note = () => {
        most = Math.max(most, victim.queuedOutput);
        pausedSeen ||= victim.readPaused;
      };
      const write = conn.write.bind(conn) as (...args: unknown[]) => boolean;
      (conn as { write: unknown }).write = (...args: unknown[]) => {
        const ok = write(...args);
        note();
        return ok;
      };
      conn.on('data', note);
      const pings = Buffer.concat(Array.from({ length: 1000 }, (_, i) => frame(FrameType.Ping, Flag.SYN, 0, i))); // 12,000 bytes
      // Written without regard to backpressure (the attacker's own memory), never read.
      for (let i = 0; i < 200; i++) attacker.write(pings);
      const reason = await Promise.race([victim.closedPromise, new Promise((r) => setTimeout(() => r('still open'), 10_000))]);
      expect(reason).to.be.instanceOf(PeerNotReading);
      expect((reason as PeerNotReading).reason).to.equal('stalled');
      expect(pausedSeen, 'it stopped reading').to.equal(true);
      expect(most, 'its queued output never went past the bound by more than one read').to.be.at.most(bound + pings.length);
      expect(victim.memory.used, 'nothing of the peer is held after the close').to.equal(0);
      await until('every write the closed connection held is called back', () => victim.queuedOutput === 0, 2_000);
    });
  }

  /** The Ping answers (ACKs) and GoAway codes a raw peer reads from the victim. */
  function answers(raw: Duplex) {
    const seen = { acks: 0, goAway: [] as number[] };
    let rest = Buffer.alloc(0);
    raw.on('data', (chunk: Buffer) => {
      rest = Buffer.concat([rest, chunk]);
      while (rest.length >= HEADER_LENGTH) {
        const type = rest[1]!;
        const flags = rest.readUInt16BE(2);
        if (type === FrameType.Ping && flags === Flag.ACK) seen.acks++;
        if (type === FrameType.GoAway) seen.goAway.push(rest.readUInt32BE(8));
        rest = rest.subarray(HEADER_LENGTH + (type === FrameType.Data ? rest.readUInt32BE(8) : 0));
      }
    });
    return seen;
  }
  const pingsOf = (n: number, from = 0) => Buffer.concat(Array.from({ length: n }, (_, i) => frame(FrameType.Ping, Flag.SYN, 0, from + i)));

  it('Pings within a burst are answered at once; past it, at the rate: the connection is not read until the peer is within it again, and every Ping is answered', async () => {
    const [attacker, conn] = duplexPair();
    open.push(attacker, conn);
    const victim = new YamuxMuxer(conn, { client: false, config: { keepaliveIntervalMs: 0, pingsPerSecond: 200, pingBurst: 20 }, onStream: (st) => st.on('error', () => {}) });
    open.push(victim);
    const seen = answers(attacker);
    attacker.write(pingsOf(15));
    await until('the burst is answered', () => seen.acks === 15);
    expect(victim.readPaused, 'within the burst').to.equal(false);
    attacker.write(pingsOf(15, 15)); // 30 in all: 10 past the burst, within one burst of debt
    await until('those are answered too', () => seen.acks === 30);
    expect(victim.readPaused, 'in debt: not read').to.equal(true);
    attacker.write(pingsOf(10, 30)); // waits in the connection while the victim does not read
    await new Promise((r) => setImmediate(r));
    expect(seen.acks, 'nothing more is read while in debt').to.equal(30);
    await until('the rest is answered once the debt is paid', () => seen.acks === 40, 5_000);
    await until('and the connection is read again', () => !victim.readPaused, 5_000);
    expect(victim.closed).to.equal(false);
    expect(seen.goAway).to.deep.equal([]);
  });

  it('a Ping flood past one burst of debt is the violation ping-flood: GoAway(1), the session closes, and few of the Pings are answered', async () => {
    for (const over of ['a memory pair', 'the Noise channel over a memory pair'] as const) {
      let attacker: Duplex;
      let conn: Duplex;
      if (over === 'a memory pair') {
        [attacker, conn] = duplexPair();
        open.push(attacker, conn);
      } else [attacker, conn] = await noisePair();
      // The Ping defaults: 100 at once, 10 a second (a short wait for the peer's EOF after the GoAway).
      const victim = new YamuxMuxer(conn, { client: false, config: { keepaliveIntervalMs: 0, violationCloseMs: 100 } });
      open.push(victim);
      const seen = answers(attacker);
      attacker.write(pingsOf(5000)); // 60,000 bytes: one read
      const reason = await Promise.race([victim.closedPromise, new Promise((r) => setTimeout(() => r('still open'), 10_000))]);
      expect(reason, over).to.be.instanceOf(YamuxProtocolError);
      expect((reason as YamuxProtocolError).violation).to.equal('ping-flood');
      await until('the GoAway arrives', () => seen.goAway.length > 0, 2_000);
      expect(seen.goAway, over).to.deep.equal([1]);
      expect(seen.acks, `${over}: a burst and one burst of debt answered, no more`).to.equal(200);
    }
  });

  it('streams opened (and reset) in a flood: past a burst and its rate the connection is read more slowly; past one burst of debt, the violation stream-flood', async () => {
    // SYN|RST on fresh ids: each frame opens a stream and resets it (12 bytes for a stream's set-up and tear-down).
    const synRst = (from: number, n: number) => Buffer.concat(Array.from({ length: n }, (_, i) => frame(FrameType.WindowUpdate, Flag.SYN | Flag.RST, from + 2 * i, 0)));
    {
      const [attacker, conn] = duplexPair();
      open.push(attacker, conn);
      let opened = 0;
      const victim = new YamuxMuxer(conn, { client: false, config: { keepaliveIntervalMs: 0, streamOpensPerSecond: 200, streamOpenBurst: 20 }, onStream: (st) => (opened++, st.on('error', () => {})) });
      open.push(victim);
      attacker.on('data', () => {});
      attacker.write(synRst(1, 30)); // 10 past the burst, within its debt
      await until('all opened', () => opened === 30);
      expect(victim.readPaused, 'in debt: not read').to.equal(true);
      await until('read again once the debt is paid', () => !victim.readPaused, 5_000);
      expect(victim.closed).to.equal(false);
    }
    {
      const [attacker, conn] = duplexPair();
      open.push(attacker, conn);
      let opened = 0;
      // The defaults: 512 at once, 256 a second. (The whole read in one turn of the event loop, so
      // that no time passes between its frames: a turn's budget would spread the opens over turns.)
      const victim = new YamuxMuxer(conn, { client: false, config: { keepaliveIntervalMs: 0, violationCloseMs: 100 }, turns: new TurnBudget(Number.MAX_SAFE_INTEGER), onStream: (st) => (opened++, st.on('error', () => {})) });
      open.push(victim);
      const seen = answers(attacker);
      attacker.write(synRst(1, 5000)); // 60,000 bytes: one read
      const reason = await Promise.race([victim.closedPromise, new Promise((r) => setTimeout(() => r('still open'), 10_000))]);
      expect(reason).to.be.instanceOf(YamuxProtocolError);
      expect((reason as YamuxProtocolError).violation).to.equal('stream-flood');
      expect(opened, 'a burst and one burst of debt opened, no more').to.equal(1024);
      await until('the GoAway arrives', () => seen.goAway.length > 0, 2_000);
      expect(seen.goAway).to.deep.equal([1]);
    }
  });

  it('hundreds of streams opened in one read are taken a turn budget at a time (the connection not read meanwhile), each with its data, in order', async () => {
    const [attacker, conn] = duplexPair();
    open.push(attacker, conn);
    // 32 opens' worth a turn (16 KiB each): the first stream free, 32 within the budget, and the one
    // that found it spent, after which the rest waits for the next turn.
    const turns = new TurnBudget(32 * 16 * 1024);
    const opened: number[] = [];
    const got = new Map<number, string>();
    const victim = new YamuxMuxer(conn, {
      client: false,
      config: { keepaliveIntervalMs: 0 },
      turns,
      onStream: (st) => {
        opened.push(st.id);
        st.on('data', (d: Buffer) => got.set(st.id, (got.get(st.id) ?? '') + d.toString()));
      },
    });
    open.push(victim);
    attacker.on('data', () => {});
    const ids = Array.from({ length: 300 }, (_, i) => 1 + 2 * i);
    await new Promise((r) => setImmediate(r));
    attacker.write(Buffer.concat(ids.flatMap((id) => [frame(FrameType.WindowUpdate, Flag.SYN, id, 0), frame(FrameType.Data, 0, id, String(id).length, Buffer.from(String(id)))])));
    expect(opened.length, 'opened in the turn of the read').to.equal(34);
    expect(victim.readPaused).to.equal(true);
    await until('all opened', () => opened.length === ids.length);
    await until('all their data', () => got.size === ids.length);
    expect(opened).to.deep.equal(ids);
    for (const id of ids) expect(got.get(id)).to.equal(String(id));
    expect(victim.readPaused).to.equal(false);
    expect(victim.memory.used, 'what waited for its turn was charged, and given back').to.equal(0);
  });

  it('with the defaults, a burst of 100 Pings is answered without slowing the connection', async () => {
    const [attacker, conn] = duplexPair();
    open.push(attacker, conn);
    const victim = new YamuxMuxer(conn, { client: false, config: { keepaliveIntervalMs: 0 } });
    open.push(victim);
    const seen = answers(attacker);
    attacker.write(pingsOf(100));
    await until('all answered', () => seen.acks === 100);
    expect(victim.readPaused).to.equal(false);
  });

  it('stream writes stop at half the output bound and go on as it drains', async () => {
    const [c, s] = duplexPair({ highWaterMark: 16 * 1024 });
    open.push(c, s);
    const bound = 256 * 1024;
    const client = new YamuxMuxer(c, { client: true, config: { keepaliveIntervalMs: 0, maxPendingOutput: bound } });
    open.push(client);
    const raw = s as Duplex; // a peer that reads only when told to
    raw.on('error', () => {});
    const stream = client.newStream();
    stream.on('error', () => {});
    let most = 0;
    for (let i = 0; i < 4; i++) stream.write(Buffer.alloc(64 * 1024, 3)); // the initial window's worth
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setImmediate(r));
      most = Math.max(most, client.queuedOutput);
    }
    expect(most, 'data alone stays within half the bound').to.be.at.most(bound / 2 + 1024);
    expect(client.readPaused).to.equal(false);
    raw.resume(); // the peer reads: everything goes out
    await until('the output drains', () => client.queuedOutput === 0 && stream.writableLength === 0);
  });

  it('with an output bound below the buffering of the secure channel, stream writers still finish', async () => {
    const [a, b] = await noisePair();
    const got: Array<Promise<Buffer>> = [];
    const client = new YamuxMuxer(a, { client: true, config: { keepaliveIntervalMs: 0, maxPendingOutput: 64 * 1024 } });
    const server = new YamuxMuxer(b, { client: false, config: { keepaliveIntervalMs: 0 }, onStream: (st) => got.push(collect(st)) });
    open.push(client, server);
    const data = Buffer.alloc(2 * 1024 * 1024, 5);
    const sizes = [1000, 5000, 70_000];
    await Promise.all(
      sizes.map(async (size) => {
        const st = client.newStream();
        for (let off = 0; off < data.length; off += size) if (!st.write(data.subarray(off, off + size))) await once(st, 'drain');
        st.end();
      }),
    );
    await until('the server has the streams', () => got.length === sizes.length);
    for (const g of got) expect((await g).length).to.equal(data.length);
  });
});
