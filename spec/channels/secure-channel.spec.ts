import { expect } from 'chai';
import { firstReceiveTimeout, NoiseSecureChannel, noiseStaticKeys, usesX25519Service } from '../../channels/secure-channel.js';
import { DEFAULT_CRYPTO_POLICY, type CryptoPolicy } from '../../channels/crypto-policy.js';
import { ConfigError } from '../../core/errors.js';
import { NodeIdentity } from '../../core/keys.js';
import { duplexPair } from '../../transports/memory/duplex-pair.js';
import { PoolExecutor, type TaskExecutor } from '../../workers/executor.js';
import { secureChannelCompliance } from '../compliance/secure-channel.js';
import { tcpPair } from '../support/tcp.js';
import { nativeProvider, stablelibProvider } from '../../core/crypto/index.js';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { U16FrameDecoder } from '../../protocols/framing/u16-frame-decoder.js';
import { FrameTooLarge } from '../../protocols/noise/errors.js';
import { MAX_PLAINTEXT } from '../../protocols/noise/transport.js';
import { TurnBudget } from '../../channels/turn-budget.js';
import { SecureChannelDropped } from '../../channels/errors.js';
import { until } from '../support/wait.js';
import { recordWrites } from '../support/recording.js';
import { collect } from '../support/streams.js';

const channel = (identity: NodeIdentity, recvTimeoutMs?: number) =>
  new NoiseSecureChannel({ staticKeys: noiseStaticKeys(identity), ...(recvTimeoutMs === undefined ? {} : { recvTimeoutMs }) });

secureChannelCompliance('memory pair, native, in-thread', {
  setup: async () => ({ connect: async () => duplexPair(), channel }),
  teardown: async () => {},
});

secureChannelCompliance('TCP loopback 127.0.0.1, native, in-thread', {
  setup: async () => ({ connect: () => tcpPair('127.0.0.1'), channel }),
  teardown: async () => {},
});

secureChannelCompliance('TCP loopback ::1, roles reversed (the accepted socket dials)', {
  setup: async () => ({ connect: async () => (await tcpPair('::1')).reverse() as never, channel }),
  teardown: async () => {},
});

secureChannelCompliance('memory pair, stablelib provider', {
  setup: async () => ({
    connect: async () => duplexPair(),
    channel: (identity, recvTimeoutMs) =>
      new NoiseSecureChannel({ staticKeys: noiseStaticKeys(identity, stablelibProvider), provider: stablelibProvider, ...(recvTimeoutMs === undefined ? {} : { recvTimeoutMs }) }),
  }),
  teardown: async () => {},
});

let pool: TaskExecutor | undefined;
secureChannelCompliance('TCP loopback, worker pool for handshakes and every transport frame', {
  setup: async () => {
    pool ??= new PoolExecutor({ threads: 2 });
    const executor = pool;
    return {
      connect: () => tcpPair('127.0.0.1'),
      channel: (identity, recvTimeoutMs) =>
        new NoiseSecureChannel({
          staticKeys: noiseStaticKeys(identity),
          executor,
          policy: { handshakeOnPool: true, bulkPoolThreshold: 1 },
          ...(recvTimeoutMs === undefined ? {} : { recvTimeoutMs }),
        }),
    };
  },
  teardown: async () => {},
});
let servicePool: TaskExecutor | undefined;
for (const [label, connect] of [
  ['memory pair', async () => duplexPair()],
  ['TCP loopback', () => tcpPair('127.0.0.1')],
] as const) {
  secureChannelCompliance(`${label}, native, X25519 service on a 1-thread pool`, {
    setup: async () => {
      servicePool ??= new PoolExecutor({ threads: 1 });
      const executor = servicePool;
      return {
        connect,
        channel: (identity, recvTimeoutMs) =>
          new NoiseSecureChannel({
            staticKeys: noiseStaticKeys(identity),
            executor,
            policy: { x25519OnPool: true },
            ...(recvTimeoutMs === undefined ? {} : { recvTimeoutMs }),
          }),
      };
    },
    teardown: async () => {},
  });
}
after(async () => {
  await pool?.close();
  await servicePool?.close();
});

describe('the X25519 service and other pool work', function () {
  this.timeout(30_000);

  it('is used only where it can hold a pool thread of its own', () => {
    const pool1 = { kind: 'pool', threads: 1 } as TaskExecutor;
    const pool2 = { kind: 'pool', threads: 2 } as TaskExecutor;
    const inline = { kind: 'inline', threads: 0 } as TaskExecutor;
    const policy = (p: Partial<CryptoPolicy>) => ({ ...DEFAULT_CRYPTO_POLICY, ...p });
    expect(usesX25519Service(policy({}), pool1)).to.equal(true);
    expect(usesX25519Service(policy({}), undefined)).to.equal(false);
    expect(usesX25519Service(policy({}), inline)).to.equal(false);
    expect(usesX25519Service(policy({ x25519OnPool: false }), pool2)).to.equal(false);
    expect(usesX25519Service(policy({ handshakeOnPool: true }), pool2)).to.equal(false);
    expect(usesX25519Service(policy({ bulkPoolThreshold: 16 * 1024 }), pool1), 'frames would wait forever').to.equal(false);
    expect(usesX25519Service(policy({ bulkPoolThreshold: 16 * 1024 }), pool2)).to.equal(true);
  });

  it('transport frames on a one-thread pool still flow with the default policy (the service stands aside)', async () => {
    const one = new PoolExecutor({ threads: 1 });
    try {
      const make = (id: NodeIdentity) => new NoiseSecureChannel({ staticKeys: noiseStaticKeys(id), executor: one, policy: { bulkPoolThreshold: 16 * 1024 } });
      const [alice, bob] = [NodeIdentity.generate(), NodeIdentity.generate()];
      expect(make(alice).x25519Service).to.equal(undefined);
      const [x, y] = await tcpPair('127.0.0.1');
      const [sa, sb] = await Promise.all([make(alice).secureOutbound(x, { dialedPublicKey: bob.publicKey }), make(bob).secureInbound(y)]);
      const data = Buffer.alloc(1024 * 1024, 7);
      const got: Buffer[] = [];
      sb.on('data', (d: Buffer) => got.push(d));
      const ended = new Promise((resolve) => sb.once('end', resolve));
      sa.end(data);
      await ended;
      expect(Buffer.concat(got).equals(data)).to.equal(true);
      sa.destroy();
      sb.destroy();
    } finally {
      await one.close();
    }
  });
});

describe('NoiseSecureChannel configuration', () => {
  it("a responder's wait for the first message is at most the receive timeout and spread over its last quarter (a crowd's timeouts are not one wave)", () => {
    expect(firstReceiveTimeout(6_000, () => 0)).to.equal(6_000);
    expect(firstReceiveTimeout(6_000, () => 0.999_999)).to.equal(4_501);
    const draws = Array.from({ length: 1_000 }, () => firstReceiveTimeout(6_000));
    expect(Math.max(...draws)).to.be.at.most(6_000);
    expect(Math.min(...draws)).to.be.at.least(4_500);
    expect(Math.max(...draws) - Math.min(...draws)).to.be.above(1_200);
    expect(firstReceiveTimeout(1)).to.equal(1);
  });

  const staticKeys = noiseStaticKeys(NodeIdentity.generate(), nativeProvider);
  it('rejects a bad pattern, network byte 0xa7, bad timeouts and bad policies with ConfigError', () => {
    expect(() => new NoiseSecureChannel({ staticKeys, pattern: 'NN' as never })).to.throw(ConfigError);
    expect(() => new NoiseSecureChannel({ staticKeys, networkByte: 0xa7 })).to.throw(ConfigError);
    expect(() => new NoiseSecureChannel({ staticKeys, networkByte: 256 })).to.throw(ConfigError);
    expect(() => new NoiseSecureChannel({ staticKeys, recvTimeoutMs: 0 })).to.throw(ConfigError);
    expect(() => new NoiseSecureChannel({ staticKeys, policy: { maxInFlight: 0 } })).to.throw(ConfigError);
    expect(() => new NoiseSecureChannel({ staticKeys: { publicKey: new Uint8Array(31), secretKey: new Uint8Array(32) } })).to.throw(ConfigError);
  });

  it('peers on different network bytes or patterns never complete a handshake', async () => {
    const a = NodeIdentity.generate();
    const b = NodeIdentity.generate();
    for (const [x, y] of [
      [{ networkByte: 1 }, { networkByte: 2 }],
      [{ pattern: 'XX' as const }, { pattern: 'IX' as const }],
    ]) {
      const [ra, rb] = duplexPair();
      const results = await Promise.allSettled([
        new NoiseSecureChannel({ staticKeys: noiseStaticKeys(a), recvTimeoutMs: 300, ...x }).secureOutbound(ra),
        new NoiseSecureChannel({ staticKeys: noiseStaticKeys(b), recvTimeoutMs: 300, ...y }).secureInbound(rb),
      ]);
      expect(results.map((r) => r.status)).to.deep.equal(['rejected', 'rejected']);
    }
  });

  it('a handshake message longer than its step allows is refused at its length prefix, before any body arrives', async () => {
    const b = NodeIdentity.generate();
    for (const [pattern, initiator] of [
      ['XX', false],
      ['XX', true],
      ['IX', false],
    ] as const) {
      const [ours, theirs] = duplexPair();
      theirs.on('data', () => {});
      theirs.on('error', () => {});
      const ch = new NoiseSecureChannel({ staticKeys: noiseStaticKeys(b), pattern, recvTimeoutMs: 5_000 });
      const started = Date.now();
      const result = (initiator ? ch.secureOutbound(ours) : ch.secureInbound(ours)).catch((e: unknown) => e);
      theirs.write(Uint8Array.of(0xff, 0xff)); // "65535 bytes follow", and nothing follows
      const err = await result;
      expect(err, `${pattern} ${initiator ? 'initiator' : 'responder'}`).to.be.instanceOf(FrameTooLarge);
      expect((err as FrameTooLarge).kind).to.equal('protocol');
      expect(Date.now() - started, 'not a timeout').to.be.below(4_000);
      expect(ours.destroyed).to.equal(true);
    }
  });

  it('IX works end to end and also checks the dialed key', async () => {
    const a = NodeIdentity.generate();
    const b = NodeIdentity.generate();
    const [ra, rb] = duplexPair();
    const [sa] = await Promise.all([
      new NoiseSecureChannel({ staticKeys: noiseStaticKeys(a), pattern: 'IX' }).secureOutbound(ra, { dialedPublicKey: b.publicKey }),
      new NoiseSecureChannel({ staticKeys: noiseStaticKeys(b), pattern: 'IX' }).secureInbound(rb),
    ]);
    expect(Buffer.from(sa.remoteStatic).equals(Buffer.from(b.noisePublicKey))).to.equal(true);
    sa.destroy();
    const [rc, rd] = duplexPair();
    const results = await Promise.allSettled([
      new NoiseSecureChannel({ staticKeys: noiseStaticKeys(a), pattern: 'IX', recvTimeoutMs: 300 }).secureOutbound(rc, { dialedPublicKey: a.publicKey }),
      new NoiseSecureChannel({ staticKeys: noiseStaticKeys(b), pattern: 'IX', recvTimeoutMs: 300 }).secureInbound(rd),
    ]);
    expect(results[0]!.status).to.equal('rejected');
    expect(((results[0] as PromiseRejectedResult).reason as Error).name).to.equal('DialedPublicKeyMismatch');
  });
});

/**
 * Secured pairs for one suite: alice dials bob over a raw pair from `connect`, through channels
 * `make` builds (the in-thread channel by default); every stream is destroyed after each test.
 */
function securedPairs() {
  const alice = NodeIdentity.generate();
  const bob = NodeIdentity.generate();
  const open: Duplex[] = [];
  afterEach(() => {
    for (const s of open.splice(0)) s.destroy();
  });
  return async (connect: () => Promise<[Duplex, Duplex]> | [Duplex, Duplex], make: (identity: NodeIdentity) => NoiseSecureChannel = channel) => {
    const [a, b] = await connect();
    open.push(a, b);
    const [sa, sb] = await Promise.all([make(alice).secureOutbound(a, { dialedPublicKey: bob.publicKey }), make(bob).secureInbound(b)]);
    open.push(sa, sb);
    return { a, b, sa, sb };
  };
}

describe('SecureDuplex message shaping (writes sealed in this thread)', function () {
  this.timeout(20_000);
  const securedOver = securedPairs();

  async function securePair(connect: () => Promise<[Duplex, Duplex]>) {
    const { a, sa, sb } = await securedOver(connect);
    // What the initiator writes on the connection from here on (transport messages only).
    return { sa, sb, wire: recordWrites(a) };
  }
  const frames = (hex: string) => new U16FrameDecoder().push(Buffer.from(hex, 'hex')).map((f) => f.length);
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  async function read(stream: Duplex, n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    const deadline = Date.now() + 10_000;
    while (got < n) {
      const chunk = stream.read() as Buffer | null;
      if (chunk !== null) {
        parts.push(chunk);
        got += chunk.length;
        continue;
      }
      if (Date.now() > deadline) throw new Error(`read ${got} of ${n} bytes`);
      await Promise.race([once(stream, 'readable'), new Promise((r) => setTimeout(r, 50))]);
    }
    return Buffer.concat(parts);
  }

  for (const [label, connect] of [
    ['memory pair', async () => duplexPair() as [Duplex, Duplex]],
    ['TCP loopback', () => tcpPair('127.0.0.1') as Promise<[Duplex, Duplex]>],
  ] as const) {
    it(`${label}: small writes made in one turn share one message, and the peer reads them all`, async () => {
      const { sa, sb, wire } = await securePair(connect);
      const data = randomBytes(1000);
      for (let i = 0; i < 10; i++) sa.write(data.subarray(i * 100, (i + 1) * 100));
      expect((await read(sb, 1000)).equals(data)).to.equal(true);
      expect(frames(wire())).to.deep.equal([1000 + 16]);
    });

    it(`${label}: bursts of writes of random sizes arrive intact though the writer reuses each buffer once called back`, async () => {
      const { sa, sb } = await securePair(connect);
      const sent: Buffer[] = [];
      for (let burst = 0; burst < 30; burst++) {
        const writes = 1 + (burst % 7);
        for (let w = 0; w < writes; w++) {
          const size = [0, 1, 17, 100, 255, 256, 257, 700, 3000, 8191, 8192, 9000][(burst * 5 + w * 3) % 12]!;
          const data = randomBytes(size);
          const buffer = Buffer.from(data);
          sa.write(buffer, () => buffer.fill(0xaa)); // reused by its writer once called back
          sent.push(data);
        }
        if (burst % 3 === 0) await turn();
      }
      const all = Buffer.concat(sent);
      expect((await read(sb, all.length)).equals(all)).to.equal(true);
    });

    it(`${label}: a lone write is sent by the end of its turn, without waiting for more`, async () => {
      const { sa, sb, wire } = await securePair(connect);
      sa.write(Buffer.from('hello'));
      await turn();
      expect(frames(wire())).to.deep.equal([5 + 16]);
      expect((await read(sb, 5)).toString()).to.equal('hello');
      sa.write(Buffer.from('again'));
      await turn();
      expect(frames(wire()), 'a write in a later turn is a message of its own').to.deep.equal([21, 21]);
    });

    it(`${label}: a run of 64 KiB writes against a full connection is sent as full messages`, async () => {
      const { sa, sb, wire } = await securePair(connect);
      const data = randomBytes(64 * 64 * 1024);
      const received = read(sb, data.length);
      for (let i = 0; i < 64; i++) if (!sa.write(data.subarray(i * 65536, (i + 1) * 65536))) await once(sa, 'drain');
      expect((await received).equals(data)).to.equal(true);
      const lengths = frames(wire());
      const short = lengths.slice(0, -1).filter((l) => l !== 65535).length;
      // Sealed write by write, every 64 KiB write would end in a 17-byte message (64 of them).
      expect(short, `short messages among ${lengths.length}`).to.be.at.most(3);
    });

    it(`${label}: end() right after short writes sends them, then the end`, async () => {
      const { sa, sb } = await securePair(connect);
      const got = collect(sb);
      sa.write(Buffer.from('abc'));
      sa.write(Buffer.from('def'));
      sa.end();
      expect((await got).toString()).to.equal('abcdef');
    });

    it(`${label}: destroyed with a short write held back, nothing more is written and nothing throws`, async () => {
      const { sa, sb, wire } = await securePair(connect);
      sb.on('error', () => {}); // the peer sees the connection go
      sa.write(Buffer.from('never sent'));
      sa.destroy();
      await turn();
      await turn();
      expect(wire()).to.equal('');
    });
  }

  it('short in-thread writes and pool-sealed writes stay in order', async () => {
    const executor = new PoolExecutor({ threads: 1 });
    try {
      const mixed = (identity: NodeIdentity) => new NoiseSecureChannel({ staticKeys: noiseStaticKeys(identity), executor, policy: { bulkPoolThreshold: 4096 } });
      const { sa, sb } = await securedOver(duplexPair, mixed);
      const writes = [100, 10_000, 5, 70_000, 300, 1, 65_536, 17].map((n) => randomBytes(n));
      const got = collect(sb);
      for (const w of writes) sa.write(w);
      sa.end();
      expect((await got).equals(Buffer.concat(writes))).to.equal(true);
    } finally {
      await executor.close();
    }
  });
});

describe('SecureDuplex when the connection under it drops (a transport failure, never a violation)', function () {
  this.timeout(20_000);
  const securedOver = securedPairs();

  /** A secure pair whose initiator's raw connection `a` the test cuts; `ended` says how the responder's channel ended. */
  async function cutPair(connect: () => Promise<[Duplex, Duplex]>) {
    const { a, sa, sb } = await securedOver(connect);
    sa.on('error', () => {});
    const received: Buffer[] = [];
    const ended = new Promise<{ how: 'end' | 'close' | 'error'; error?: Error }>((resolve) => {
      sb.on('data', (d: Buffer) => received.push(d));
      sb.on('end', () => resolve({ how: 'end' }));
      sb.on('error', (error) => resolve({ how: 'error', error }));
      sb.on('close', () => resolve({ how: 'close' }));
    });
    return { a, sa, sb, ended, received };
  }
  /** A transport frame's prefix (256 bytes) and 10 of its bytes: a frame cut short. */
  const partialFrame = Buffer.concat([Buffer.of(0x01, 0x00), Buffer.alloc(10, 0x5a)]);

  for (const [label, connect] of [
    ['memory pair', async () => duplexPair() as [Duplex, Duplex]],
    ['TCP loopback', () => tcpPair('127.0.0.1') as Promise<[Duplex, Duplex]>],
  ] as const) {
    it(`${label}: an end at a frame boundary is a normal end, after every byte sent`, async () => {
      const { sa, ended, received } = await cutPair(connect);
      sa.end(Buffer.from('last words')); // its last message, then the connection's end
      expect(await ended).to.deep.equal({ how: 'end' });
      expect(Buffer.concat(received).toString()).to.equal('last words');
    });

    it(`${label}: an end inside a transport frame is a lost connection (SecureChannelDropped, kind transport), not a protocol error`, async () => {
      const { a, ended } = await cutPair(connect);
      a.end(partialFrame);
      const { how, error } = await ended;
      expect(how).to.equal('error');
      expect(error).to.be.instanceOf(SecureChannelDropped);
      expect((error as SecureChannelDropped).kind).to.equal('transport');
      expect((error as SecureChannelDropped).reason).to.equal('truncated-frame');
    });
  }

  it('memory pair: a connection closed without its end (the peer destroyed it) while data waits unread closes the channel normally', async () => {
    const { a, sa, sb, ended } = await cutPair(async () => duplexPair() as [Duplex, Duplex]);
    sb.removeAllListeners('data');
    sb.pause();
    // More than the channel buffers: the raw connection is paused with bytes in it when it closes.
    sa.write(randomBytes(1_000_000));
    await until('the reader is full', () => sb.readableLength >= sb.readableHighWaterMark);
    a.destroy();
    expect(await ended).to.deep.equal({ how: 'close' });
    expect(sb.errored).to.equal(null);
  });

  it('memory pair: a connection closed without its end inside a frame is a lost connection, not a protocol error', async () => {
    const { a, ended } = await cutPair(async () => duplexPair() as [Duplex, Duplex]);
    a.write(partialFrame);
    a.destroy();
    const { error } = await ended;
    expect(error).to.be.instanceOf(SecureChannelDropped);
    expect((error as SecureChannelDropped).kind).to.equal('transport');
  });
});

describe('SecureDuplex and the bytes per turn of the event loop (TurnBudget)', function () {
  this.timeout(20_000);
  const securedOver = securedPairs();
  const memory = async () => duplexPair() as [Duplex, Duplex];
  const withTurns = (turns: TurnBudget) => (identity: NodeIdentity) => new NoiseSecureChannel({ staticKeys: noiseStaticKeys(identity), turns });
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
  /** Everything `s` delivers, as it comes. */
  function received(s: Duplex) {
    const parts: Buffer[] = [];
    let bytes = 0;
    s.on('data', (d: Buffer) => {
      parts.push(d);
      bytes += d.length;
    });
    return { bytes: () => bytes, all: () => Buffer.concat(parts) };
  }

  it('memory pair: a burst is taken a turn budget at a time, the rest in later turns, whole and in order', async () => {
    const turns = new TurnBudget(64 * 1024);
    const { sa, sb } = await securedOver(memory, withTurns(turns));
    const got = received(sb);
    const data = randomBytes(1024 * 1024);
    await nextTurn();
    sa.write(data); // the memory pair hands each message on at once: the whole burst is there now
    const inThisTurn = got.bytes();
    expect(inThisTurn).to.be.greaterThan(0);
    expect(inThisTurn).to.be.at.most(64 * 1024 + MAX_PLAINTEXT);
    let later = 0;
    while (got.bytes() < data.length && later < 1_000) {
      await nextTurn();
      later++;
    }
    expect(later).to.be.greaterThan(1);
    expect(got.all().equals(data)).to.equal(true);
  });

  it('memory pair: a connection waiting for its turn still ends after all its data (the end waits behind what was put back)', async () => {
    const turns = new TurnBudget(16 * 1024);
    const { sa, sb } = await securedOver(memory, withTurns(turns));
    const got = received(sb);
    const ended = once(sb, 'end');
    const data = randomBytes(300_000);
    sa.end(data);
    await ended;
    expect(got.all().equals(data)).to.equal(true);
  });

  it('TCP loopback: with a small budget, bursts both ways arrive whole and in order', async () => {
    const turns = new TurnBudget(16 * 1024);
    const { sa, sb } = await securedOver(() => tcpPair('127.0.0.1') as Promise<[Duplex, Duplex]>, withTurns(turns));
    const [toB, toA] = [randomBytes(3_000_000), randomBytes(1_000_000)];
    const [atB, atA] = [collect(sb), collect(sa)];
    sa.end(toB);
    sb.end(toA);
    const [gotB, gotA] = await Promise.all([atB, atA]);
    expect(Buffer.from(gotB).equals(toB)).to.equal(true);
    expect(Buffer.from(gotA).equals(toA)).to.equal(true);
  });

  it('memory pair: past the budget, a light connection gets its first small read of the turn at once, and a second waits for the next turn', async () => {
    const turns = new TurnBudget(64 * 1024);
    const heavy = await securedOver(memory, withTurns(turns));
    const light = await securedOver(memory, withTurns(turns));
    received(heavy.sb);
    const arrivals: Array<[string, boolean]> = [];
    await nextTurn();
    let turnOver = false;
    setImmediate(() => (turnOver = true)); // before the budget's own turn ends
    light.sb.on('data', (d: Buffer) => arrivals.push([d.toString(), turnOver]));
    heavy.sa.write(randomBytes(1024 * 1024)); // spends this turn's budget
    expect(turns.used).to.be.at.least(64 * 1024);
    light.sa.write('first'); // sent at the end of this tick (a short write waits to join others)
    await until('the first small message', () => arrivals.length === 1, 5_000);
    light.sa.write('second');
    await until('the second small message', () => arrivals.length === 2, 5_000);
    expect(arrivals).to.deep.equal([
      ['first', false],
      ['second', true],
    ]);
  });

  it('memory pair: a channel destroyed while it waits for its turn reads nothing more, and nothing throws', async () => {
    const turns = new TurnBudget(16 * 1024);
    const { sa, sb } = await securedOver(memory, withTurns(turns));
    const got = received(sb);
    sb.on('error', () => {});
    sa.on('error', () => {});
    await nextTurn();
    sa.write(randomBytes(200_000));
    expect(turns.waiting).to.equal(1);
    const before = got.bytes();
    sb.destroy();
    await nextTurn();
    await nextTurn();
    expect(got.bytes()).to.equal(before);
    expect(turns.waiting).to.equal(0);
  });
});
