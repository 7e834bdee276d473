/**
 * Messaging between whole nodes over TCP loopback (PROTOCOL.md section 6): volume and sizes in
 * both directions with checksums, queue bounds, a receiver that restarts mid-stream, an oversized
 * frame, and the middleware pipeline.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { NodeIdentity } from '../../core/keys.js';
import { toHex } from '../../core/bytes.js';
import type { SendOutcome, InboundMessage } from '../../actors/messaging/index.js';
import { CommsBuilder, type CommsNode } from '../../node/index.js';
import { blackhole } from '../support/blackhole.js';
import { until } from '../support/wait.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('messaging between nodes over TCP', function () {
  this.timeout(120_000);
  const nodes: CommsNode[] = [];

  async function node(name: string, configure: (b: CommsBuilder) => CommsBuilder = (b) => b, identity = NodeIdentity.generate(), listen = '/ip4/127.0.0.1/tcp/0'): Promise<CommsNode> {
    const n = configure(new CommsBuilder().withNodeIdentity(identity).withUserAgent(name).withListenAddress(listen).withDialPolicy({ rounds: 1 })).build();
    nodes.push(n);
    await n.start();
    return n;
  }
  const learn = (at: CommsNode, about: CommsNode) => at.addPeer(about.publicKey, about.listenAddresses.map(String));

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
  });

  /** Receives `count` messages from `from` on `at`, in order, as checksums. */
  function receive(at: CommsNode, count: number): Promise<string[]> {
    return new Promise((resolve) => {
      const got: string[] = [];
      const on = (m: InboundMessage) => {
        got.push(sha(m.body));
        if (got.length === count) {
          at.off('message', on);
          resolve(got);
        }
      };
      at.on('message', on);
    });
  }

  /** Sends in order with at most `window` messages outstanding; the outcomes in send order. */
  async function sendAll(from: CommsNode, to: CommsNode, bodies: Uint8Array[], window: number): Promise<SendOutcome[]> {
    const outcomes: Array<Promise<SendOutcome>> = [];
    for (let i = 0; i < bodies.length; i++) {
      if (i >= window) await outcomes[i - window];
      outcomes.push(from.send(to.publicKey, bodies[i]!));
    }
    return Promise.all(outcomes);
  }

  it('delivers thousands of messages of 0 B to 8 MiB both ways, in order, with no loss', async () => {
    const a = await node('a');
    const b = await node('b');
    await Promise.all([learn(a, b), learn(b, a)]);
    const sizes = (n: number) => [0, 1, 8 * 1024 * 1024, 65_535, 65_536, 1024 * 1024, ...Array.from({ length: n - 6 }, (_, i) => (i * 7919) % 4096)];
    const aBodies = sizes(2500).map((n) => randomBytes(n));
    const bBodies = sizes(2500).map((n) => randomBytes(n));
    const [atB, atA] = [receive(b, aBodies.length), receive(a, bBodies.length)];
    // Within the per-peer queue bound (1024): at most 512 outstanding per direction.
    const outcomes = (await Promise.all([sendAll(a, b, aBodies, 512), sendAll(b, a, bBodies, 512)])).flat();
    const failed = outcomes.filter((o) => !o.ok);
    expect(failed.length, JSON.stringify([...new Set(failed.map((o) => JSON.stringify(o)))].slice(0, 3))).to.equal(0);
    expect(await atB).to.deep.equal(aBodies.map(sha));
    expect(await atA).to.deep.equal(bBodies.map(sha));
    // One connection and one messaging substream each way were enough.
    expect(a.connections()).to.have.length(1);
  });

  it('bounds the queue per peer and in total: a send beyond fails at once with QueueFull', async () => {
    const hole = await blackhole();
    try {
      const a = await node('a', (x) => x.withMessaging({ maxQueuedPerPeer: 10, maxQueued: 15 }).withTimeouts({ dialAttemptMs: 1_500 }));
      const [p, q] = [NodeIdentity.generate().publicKey, NodeIdentity.generate().publicKey];
      await a.addPeer(p, [`/ip4/127.0.0.1/tcp/${hole.port}`]);
      await a.addPeer(q, [`/ip4/127.0.0.1/tcp/${hole.port}`]);
      const toP = Array.from({ length: 12 }, () => a.send(p, randomBytes(10)));
      const toQ = Array.from({ length: 6 }, () => a.send(q, randomBytes(10)));
      const settled = await Promise.all([...toP, ...toQ]);
      const names = (list: SendOutcome[]) => list.map((o) => (o.ok ? 'ok' : o.error.name));
      // p: 10 queued (then failed by the dial), 2 refused; q: 5 fit the total of 15, 1 refused.
      expect(names(settled.slice(0, 12)).filter((n) => n === 'QueueFull')).to.have.length(2);
      expect(names(settled.slice(12)).filter((n) => n === 'QueueFull')).to.have.length(1);
      expect(names(settled).filter((n) => n === 'ok')).to.have.length(0);
      expect(names(settled).filter((n) => n !== 'QueueFull')).to.have.length(15); // every queued one reported failed (the dial)
      expect(await a.send(p, new Uint8Array(9 * 1024 * 1024))).to.deep.include({ ok: false });
    } finally {
      hole.close();
    }
  });

  it('keeps sending across a receiver restart: every message settles, none is lost silently', async () => {
    const identity = NodeIdentity.generate();
    let b = await node('b', (x) => x, identity);
    const port = b.listenAddresses[0]!.getComponents()[1]!.value;
    const a = await node('a', (x) => x.withDialPolicy({ rounds: 10, backoffMs: 100 }));
    await learn(a, b);
    const received: string[] = [];
    const record = (n: CommsNode) => n.on('message', (m) => received.push(sha(m.body)));
    record(b);
    const bodies = Array.from({ length: 3000 }, (_, i) => randomBytes(100 + (i % 900)));
    const outcomes: Array<Promise<SendOutcome>> = [];
    for (const [i, body] of bodies.entries()) {
      if (i >= 500) await outcomes[i - 500]; // within the per-peer queue bound
      outcomes.push(a.send(b.publicKey, body));
      if (i === 1000) {
        await until('b got some', () => received.length > 200, 20_000);
        await b.stop();
        b = await node('b again', (x) => x, identity, `/ip4/127.0.0.1/tcp/${port}`);
        record(b);
      }
    }
    const settled = await Promise.all(outcomes);
    const ok = settled.filter((o) => o.ok).length;
    expect(ok + settled.filter((o) => !o.ok).length).to.equal(bodies.length);
    await until('the last written message arrived', () => received.includes(sha(bodies[settled.map((o) => o.ok).lastIndexOf(true)]!)), 20_000);
    // What arrived is in send order, checksums intact, and the restarted node got messages.
    const order = new Map(bodies.map((body, i) => [sha(body), i]));
    const indices = received.map((h) => order.get(h)!);
    expect(indices.every((v, i) => i === 0 || v > indices[i - 1]!)).to.equal(true);
    expect(indices.at(-1)).to.be.greaterThan(1000);
    expect(ok).to.be.greaterThan(2000);
  });

  it('every accepted message settles even when the sender stops mid-stream (none is left hanging)', async () => {
    const a = await node('a', (x) => x.withTimeouts({ closeGraceMs: 300 }));
    // b holds 10 unread messages at most, then stops reading: a's writes back up, and a's
    // graceful close runs out of grace with writes still pending (the substream is reset).
    const b = await node('b', (x) => x.withMessaging({ inboxCapacity: 10 }));
    b.messages();
    await learn(a, b);
    const outcomes: Array<Promise<SendOutcome>> = [];
    for (let i = 0; i < 1000; i++) outcomes.push(a.send(b.publicKey, randomBytes(64 * 1024)));
    await outcomes[10]; // some are written, many are queued or in flight
    const stopping = a.stop();
    const settled = await Promise.race([Promise.all(outcomes), new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000))]);
    await stopping;
    expect(settled).to.not.equal('hung');
    const list = settled as SendOutcome[];
    expect(list.filter((o) => o.ok).length).to.be.greaterThan(10);
    expect(list.filter((o) => !o.ok).length).to.be.greaterThan(0); // the rest reported failed, not lost
  });

  it('an oversized frame is a violation: the sender is banned and disconnected, the node keeps serving', async () => {
    const small = await node('small', (x) => x.withMessaging({ maxMessageBytes: 1024 }));
    const big = await node('big');
    const other = await node('other');
    await Promise.all([learn(big, small), learn(other, small)]);
    const banned = new Promise<{ publicKey: Uint8Array }>((resolve) => small.on('peer.banned', resolve));
    expect((await big.send(small.publicKey, randomBytes(2048))).ok).to.equal(true); // written on big's side
    expect(toHex((await banned).publicKey)).to.equal(toHex(big.publicKey));
    await until('big disconnected', () => small.connections().every((c) => toHex(c.publicKey) !== toHex(big.publicKey)));
    const got = receive(small, 1);
    expect((await other.send(small.publicKey, Buffer.from('still here'))).ok).to.equal(true);
    expect(await got).to.deep.equal([sha(Buffer.from('still here'))]);
  });

  it('takes one inbound messaging substream per peer: a second is reset, the first goes on', async () => {
    const receiver = await node('receiver');
    const sender = await node('sender');
    await learn(sender, receiver);
    const got = receive(receiver, 1);
    expect((await sender.send(receiver.publicKey, Buffer.from('first'))).ok).to.equal(true);
    await got;
    // A second messaging substream from the same peer, opened by hand: reset at once.
    const { stream } = await sender.openStream(receiver.publicKey, ['/tari/messaging/0.1.0']);
    const ended = new Promise<void>((resolve) => stream.once('close', () => resolve()));
    stream.on('error', () => {});
    stream.write(Buffer.from([0, 0, 0, 1, 42]));
    await ended;
    // The first substream still delivers.
    const more = receive(receiver, 1);
    expect((await sender.send(receiver.publicKey, Buffer.from('still the first'))).ok).to.equal(true);
    expect(await more).to.deep.equal([sha(Buffer.from('still the first'))]);
  });

  it('negotiates at most 64 of a peer\'s inbound substreams at once: of 300 that stall in negotiation, the rest are reset at once, and the node goes on serving', async () => {
    const receiver = await node('receiver');
    const sender = await node('sender');
    await learn(sender, receiver);
    expect((await sender.send(receiver.publicKey, Buffer.from('hello'))).ok).to.equal(true);
    const conn = sender.connections()[0]!.connection;
    // 300 substreams that propose nothing: each holds a negotiation until its timeout.
    let reset = 0;
    const streams = Array.from({ length: 300 }, () => conn.muxer.newStream());
    for (const s of streams) {
      s.on('error', () => {});
      s.once('close', () => reset++);
    }
    await until('all but 64 reset', () => reset === 300 - 64, 10_000);
    const more = receive(receiver, 1);
    expect((await sender.send(receiver.publicKey, Buffer.from('still served'))).ok).to.equal(true);
    expect(await more).to.deep.equal([sha(Buffer.from('still served'))]);
    expect(reset, 'the 64 still negotiating are not reset').to.equal(300 - 64);
    for (const s of streams) s.destroy();
  });

  it('serves a burst of 300 substreams opened in one turn, each negotiated, a share of them per turn', async () => {
    const receiver = await node('receiver');
    const sender = await node('sender');
    let handled = 0;
    receiver.registerProtocol('/burst/1', (stream) => {
      handled++;
      stream.on('error', () => {});
    });
    await learn(sender, receiver);
    expect((await sender.send(receiver.publicKey, Buffer.from('hello'))).ok).to.equal(true);
    const conn = sender.connections()[0]!.connection;
    // 300 substreams opened in one turn, each with its negotiation frame (optimistic: no round trip).
    const opened = await Promise.all(Array.from({ length: 300 }, () => conn.openStream(['/burst/1'], { optimistic: true, timeoutMs: 10_000 })));
    for (const { stream } of opened) stream.on('error', () => {});
    await until('each was taken', () => handled === 300, 10_000);
    const more = receive(receiver, 1);
    expect((await sender.send(receiver.publicKey, Buffer.from('still served'))).ok).to.equal(true);
    expect(await more).to.deep.equal([sha(Buffer.from('still served'))]);
  });

  it('charges a partial frame to the connection\'s memory until it completes', async () => {
    const receiver = await node('receiver');
    const sender = await node('sender');
    await learn(sender, receiver);
    const { stream } = await sender.openStream(receiver.publicKey, ['/tari/messaging/0.1.0']);
    const connection = receiver.connections()[0]!.connection;
    const before = connection.memory.used;
    const body = randomBytes(300_000);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length);
    const got = receive(receiver, 1);
    stream.write(Buffer.concat([header, body.subarray(0, 200_000)]));
    await until('the partial frame is charged', () => connection.memory.used >= before + 200_000);
    stream.end(body.subarray(200_000));
    expect(await got).to.deep.equal([sha(body)]);
    await until('released once delivered', () => connection.memory.used < before + 200_000);
  });

  it('bounds the inbox in bytes as well as in messages: an unread inbox slows the sender, reading lets it go on', async () => {
    const receiver = await node('receiver', (x) => x.withMessaging({ inboxCapacity: 1_000, inboxMaxBytes: 1024 * 1024 }));
    const sender = await node('sender');
    await learn(sender, receiver);
    const inbox = receiver.messages()[Symbol.asyncIterator]();
    let delivered = 0;
    receiver.on('message', () => delivered++);
    const bodies = Array.from({ length: 64 }, () => randomBytes(256 * 1024)); // 16 MiB, 16 times the inbox
    const sending = sendAll(sender, receiver, bodies, 64);
    // Not read: the inbox fills to its byte bound (4 bodies) and one more waits to go in; the
    // sender is held there by the yamux window.
    await until('the inbox holds what it may', () => delivered >= 5);
    await new Promise((r) => setTimeout(r, 300));
    expect(delivered).to.equal(5);
    // Reading drains it, in order, and every message arrives.
    for (const b of bodies) expect(sha((await inbox.next()).value!.body)).to.equal(sha(b));
    expect((await sending).every((o) => o.ok)).to.equal(true);
  });

  it('a peer named by hex (either case) gets its messages; a bad hex key is refused every time, never cached', async () => {
    const a = await node('a');
    const b = await node('b');
    await learn(a, b);
    const got = receive(b, 3);
    for (const hex of [toHex(b.publicKey), toHex(b.publicKey).toUpperCase(), toHex(b.publicKey)]) expect((await a.send(hex, Buffer.from(hex))).ok).to.equal(true);
    expect(await got).to.have.length(3);
    const bad = toHex(b.publicKey).slice(0, 62) + 'zz';
    for (let i = 0; i < 2; i++) expect(() => a.send(bad, Buffer.from('x'))).to.throw(TypeError);
    const offCurve = 'ff'.repeat(31) + '7f'; // y = p - 1 + ... not a canonical point
    for (let i = 0; i < 2; i++) expect(() => a.send(offCurve, Buffer.from('x'))).to.throw();
  });

  it('runs the outbound and inbound middleware in order; a middleware can drop a message', async () => {
    const a = await node('a', (x) => x.withOutboundMiddleware((m) => ({ ...m, body: Buffer.concat([Buffer.from('v1:'), m.body]) })));
    const b = await node('b', (x) =>
      x.withInboundMiddleware((m) => (Buffer.from(m.body).toString().endsWith('drop') ? undefined : m)).withInboundMiddleware((m) => ({ ...m, body: Buffer.from(Buffer.from(m.body).toString().toUpperCase()) })),
    );
    await learn(a, b);
    const inbox = b.messages()[Symbol.asyncIterator]();
    for (const text of ['one', 'please drop', 'two']) expect((await a.send(b.publicKey, Buffer.from(text))).ok).to.equal(true);
    expect(Buffer.from((await inbox.next()).value!.body).toString()).to.equal('V1:ONE');
    expect(Buffer.from((await inbox.next()).value!.body).toString()).to.equal('V1:TWO');
  });
});
