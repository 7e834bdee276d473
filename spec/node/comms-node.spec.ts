/**
 * The comms node end to end (issue 6): real TCP loopback and the memory transport, real actors,
 * real peer stores. Adversarial sockets are raw transport connections.
 */
import { sharedPoolUsers } from '../../workers/shared-pool.js';
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { toHex } from '../../core/bytes.js';
import { NodeIdentity } from '../../core/keys.js';
import { upgradeOutbound, type PeerConnection } from '../../channels/upgrade.js';
import { TurnBudget } from '../../channels/turn-budget.js';
import { CommsBuilder, CommsConfigInvalid, MIN_KEEPALIVE_INTERVAL_MS, NodeNotRunning, NodeStartFailed, type CommsNode } from '../../node/index.js';
import { DEFAULT_YAMUX_CONFIG } from '../../protocols/yamux/config.js';
import { MemoryNetwork, MemoryTransport } from '../../transports/memory/memory.js';
import { TcpTransport } from '../../transports/tcp/tcp.js';
import type { Transport } from '../../transports/transport.js';
import { testNode } from '../support/nodes.js';
import { collect } from '../support/streams.js';
import { until } from '../support/wait.js';

const ECHO = '/test/echo/1';

interface Kind {
  name: string;
  transport: () => Transport;
  listen: string;
}

const network = new MemoryNetwork();
const KINDS: Kind[] = [
  { name: 'TCP loopback', transport: () => new TcpTransport(), listen: '/ip4/127.0.0.1/tcp/0' },
  { name: 'the memory transport', transport: () => new MemoryTransport({ network }), listen: '/memory/0' },
];

type Seen = Array<{ type: string; [k: string]: unknown }>;

function record(node: CommsNode): Seen {
  const seen: Seen = [];
  for (const type of ['peer.connected', 'peer.disconnected', 'peer.connect-failed', 'peer.violation', 'peer.banned', 'connection.rejected', 'connectivity.status'] as const) {
    node.on(type, (e: object) => seen.push({ type, ...e }));
  }
  return seen;
}

async function echoRoundTrip(node: CommsNode, peer: CommsNode, text: string): Promise<string> {
  const { stream } = await node.openStream(peer.publicKey, [ECHO]);
  const back = collect(stream);
  stream.end(text);
  return (await back).toString();
}

for (const kind of KINDS) {
  describe(`comms node over ${kind.name}`, function () {
    this.timeout(60_000);
    const nodes: CommsNode[] = [];

    function build(name: string, configure: (b: CommsBuilder) => CommsBuilder = (b) => b): CommsNode {
      const builder = new CommsBuilder()
        .withNodeIdentity(NodeIdentity.generate())
        .withUserAgent(name)
        .withTransport(kind.transport())
        .withListenAddress(kind.listen)
        .withProtocol(ECHO, (stream) => void stream.pipe(stream))
        .withDialPolicy({ rounds: 1 })
        .withTimeouts({ timeToFirstByteMs: 1_000, handshakeRecvMs: 1_000, identityMs: 1_000, dialAttemptMs: 5_000 });
      const node = configure(builder).build();
      nodes.push(node);
      return node;
    }

    async function started(name: string, configure?: (b: CommsBuilder) => CommsBuilder): Promise<CommsNode> {
      const node = build(name, configure);
      await node.start();
      return node;
    }

    afterEach(async () => {
      await Promise.all(nodes.splice(0).map((n) => n.stop()));
    });

    /** A raw socket to `node`'s first listen address. */
    /**
     * A raw connection to the node. Over TCP it comes from 127.0.0.2 (all of 127.0.0.0/8 is
     * loopback), as an attacker's would from an address other than the good peers': the node
     * slows down an address whose sockets broke the protocol.
     */
    async function rawTo(node: CommsNode): Promise<Duplex> {
      let stream: Duplex;
      if (kind.name === 'TCP loopback') {
        const socket = connect({ host: '127.0.0.1', port: Number(node.listenAddresses[0]!.getComponents()[1]!.value), localAddress: '127.0.0.2' });
        socket.on('error', () => {});
        await once(socket, 'connect');
        stream = socket;
      } else stream = (await kind.transport().dial(node.listenAddresses[0]!)).stream;
      stream.on('error', () => {});
      stream.resume(); // read (and drop) what the node sends, so its close is seen
      return stream;
    }

    it('connects in both directions: identities exchanged and stored, substreams both ways', async () => {
      const a = await started('alice');
      const b = await started('bob');
      const [seenA, seenB] = [record(a), record(b)];
      const info = await a.dial(b.publicKey, { addresses: b.listenAddresses.map(String) });
      expect(info.userAgent).to.equal('bob');
      expect(info.direction).to.equal('outbound');
      expect(info.supportedProtocols).to.deep.equal([ECHO, '/tari/messaging/0.1.0']);
      await until('bob sees alice', () => b.connections().length === 1);
      expect(b.connections()[0]!.direction).to.equal('inbound');
      expect(await echoRoundTrip(a, b, 'a->b')).to.equal('a->b');
      expect(await echoRoundTrip(b, a, 'b->a')).to.equal('b->a');
      // Each stored the other's signed claim, with the address it listens on.
      const stored = await b.peers.find({ publicKey: a.publicKey });
      expect(stored?.claim?.signature).to.have.length(64);
      expect(stored?.addresses.map((x) => x.address)).to.deep.equal(a.listenAddresses.map(String));
      // The other direction, from what bob learned: alice's claimed address.
      a.disconnect(b.publicKey);
      await until('both disconnected', () => a.connections().length === 0 && b.connections().length === 0);
      const back = await b.dial(a.publicKey);
      expect(back.direction).to.equal('outbound');
      expect(await echoRoundTrip(b, a, 'again')).to.equal('again');
      expect(seenA.filter((e) => e.type === 'peer.connected')).to.have.length(2);
      expect(seenB.filter((e) => e.type === 'peer.disconnected')).to.have.length(1);
      expect(seenA.some((e) => e.type === 'connectivity.status' && e.status === 'online')).to.equal(true);
    });

    it('a simultaneous dial from both sides ends with exactly one connection on both nodes', async () => {
      for (let round = 0; round < 3; round++) {
        const a = await started(`a${round}`);
        const b = await started(`b${round}`);
        await Promise.all([a.addPeer(b.publicKey, b.listenAddresses.map(String)), b.addPeer(a.publicKey, a.listenAddresses.map(String))]);
        const results = await Promise.allSettled([a.dial(b.publicKey), b.dial(a.publicKey)]);
        expect(results.map((r) => r.status)).to.deep.equal(['fulfilled', 'fulfilled']);
        await until('one each, the same one', () => {
          const [ca, cb] = [a.connections(), b.connections()];
          return ca.length === 1 && cb.length === 1 && ca[0]!.direction !== cb[0]!.direction && !ca[0]!.connection.muxer.closed;
        });
        expect(await echoRoundTrip(a, b, 'one')).to.equal('one');
        expect(await echoRoundTrip(b, a, 'connection')).to.equal('connection');
      }
    });

    it('a dial to the wrong key fails without the dialer revealing itself', async () => {
      const a = await started('alice');
      const b = await started('bob');
      const seenB = record(b);
      const impostorKey = NodeIdentity.generate().publicKey; // a dials this key at bob's address
      const err = await a.dial(impostorKey, { addresses: b.listenAddresses.map(String) }).catch((e: unknown) => e);
      expect(err).to.be.an('error');
      expect(String(err)).to.match(/DialedPublicKeyMismatch/);
      await until('bob saw a failed upgrade', () => seenB.some((e) => e.type === 'connection.rejected'));
      expect(seenB.some((e) => e.type === 'peer.connected')).to.equal(false);
      // bob never learnt who dialed: no record of alice.
      expect(await b.peers.find({ publicKey: a.publicKey })).to.equal(undefined);
      expect(b.connections()).to.have.length(0);
    });

    it('wrong network byte, garbage, a silent socket and a stalled handshake are all rejected while the node keeps serving', async () => {
      const b = await started('bob');
      const seenB = record(b);
      const wrongByte = await rawTo(b);
      wrongByte.write(Uint8Array.of(0x42));
      const garbage = await rawTo(b);
      garbage.write(Buffer.concat([Buffer.of(0x00), Buffer.alloc(200, 0xee)]));
      const silent = await rawTo(b);
      const stalled = await rawTo(b);
      // The wire byte and a valid-length XX message 1 (32 bytes), then nothing.
      stalled.write(Buffer.concat([Buffer.of(0x00, 0x00, 0x20), Buffer.alloc(32, 7)]));
      // Meanwhile a real peer connects and talks.
      const a = await started('alice');
      await a.dial(b.publicKey, { addresses: b.listenAddresses.map(String) });
      expect(await echoRoundTrip(a, b, 'still serving')).to.equal('still serving');
      await until('four rejections', () => seenB.filter((e) => e.type === 'connection.rejected').length >= 4, 15_000);
      const names = seenB.filter((e) => e.type === 'connection.rejected').map((e) => (e.error as { name: string } | undefined)?.name);
      expect(names).to.include('WrongNetworkByte');
      expect(names).to.include('TimeToFirstByteExceeded');
      expect(names.filter((n) => n !== 'WrongNetworkByte' && n !== 'TimeToFirstByteExceeded')).to.have.length(2); // garbage and the stall
      for (const s of [wrongByte, garbage, silent, stalled]) await until('closed by bob', () => s.destroyed || s.readableEnded || (s as { closed?: boolean }).closed === true);
      expect(b.connections()).to.have.length(1);
    });

    it('bans a peer that proves its key and then sends an invalid claim; its next connection is refused', async () => {
      const b = await started('bob');
      const seenB = record(b);
      const liar = testNode('liar', { networkByte: 0x00, identityTimeoutMs: 2000 });
      const future = { ...liar, identityContent: () => ({ ...liar.identityContent(), updatedAt: BigInt(Math.floor(Date.now() / 1000) + 3 * 86_400) }) }; // beyond the allowed clock skew
      const first = await rawTo(b);
      await upgradeOutbound(first, future, { dialedPublicKey: b.publicKey }).catch(() => undefined);
      await until('banned', () => seenB.some((e) => e.type === 'peer.banned'));
      const violation = seenB.find((e) => e.type === 'peer.violation')!;
      expect(toHex(violation.publicKey as Uint8Array)).to.equal(toHex(liar.identity.publicKey));
      expect((violation.error as { name: string }).name).to.equal('IdentityInvalid');
      const stored = await b.peers.find({ publicKey: liar.identity.publicKey });
      expect(stored?.bannedUntil).to.be.greaterThan(Date.now());
      // Now with a valid claim: the handshake completes, then bob refuses the banned key.
      const second = await rawTo(b);
      const conn = await upgradeOutbound(second, liar, { dialedPublicKey: b.publicKey }).catch(() => undefined);
      await until('rejected as banned', () => seenB.some((e) => e.type === 'connection.rejected' && e.reason === 'banned'));
      if (conn) await until('closed', () => (conn as PeerConnection).muxer.closed);
      expect(b.connections()).to.have.length(0);
    });

    for (const cut of ['inside a Noise transport frame', 'at a frame boundary'] as const) {
      it(`a peer whose connection drops ${cut} is disconnected without a violation or a ban, and connects again`, async () => {
        const b = await started('bob');
        const seenB = record(b);
        const peer = testNode('dropper', { networkByte: 0x00, yamux: { keepaliveIntervalMs: 0 }, allowMemoryAddresses: true });
        const raw = await rawTo(b);
        await upgradeOutbound(raw, peer, { dialedPublicKey: b.publicKey });
        await until('connected', () => seenB.some((e) => e.type === 'peer.connected'));
        // The peer's process dies: whatever it had written reaches bob, then the connection ends
        // (over TCP a FIN, over the memory transport a close without an end).
        if (cut === 'inside a Noise transport frame') raw.write(Buffer.concat([Buffer.of(0x01, 0x00), Buffer.alloc(10, 0x5a)]));
        raw.destroy();
        await until('disconnected', () => seenB.some((e) => e.type === 'peer.disconnected'));
        const disconnected = seenB.find((e) => e.type === 'peer.disconnected')!;
        if (cut === 'at a frame boundary') expect(disconnected.error).to.equal(undefined);
        else expect(disconnected.error).to.deep.include({ name: 'SecureChannelDropped', kind: 'transport' });
        expect(seenB.filter((e) => e.type === 'peer.violation' || e.type === 'peer.banned')).to.deep.equal([]);
        expect((await b.peers.find({ publicKey: peer.identity.publicKey }))?.bannedUntil).to.equal(undefined);
        // It comes back (its process restarted) and is served.
        const again = await upgradeOutbound(await rawTo(b), peer, { dialedPublicKey: b.publicKey });
        await until('connected again', () => seenB.filter((e) => e.type === 'peer.connected').length === 2);
        expect(seenB.filter((e) => e.type === 'connection.rejected')).to.deep.equal([]);
        again.muxer.abort();
      });
    }

    it('stays responsive with 200 inbound connections', async function () {
      const b = await started('bob', (x) => x.withLimits({ maxConnections: 300, maxConcurrentUpgrades: 64 }));
      const clients: PeerConnection[] = [];
      try {
        for (let batch = 0; batch < 10; batch++) {
          const made = await Promise.all(
            Array.from({ length: 20 }, async (_, i) => upgradeOutbound(await rawTo(b), testNode(`c${batch}-${i}`, { yamux: { keepaliveIntervalMs: 0 }, allowMemoryAddresses: true }), { dialedPublicKey: b.publicKey })),
          );
          clients.push(...made);
        }
        await until('200 connections', () => b.connections().length === 200, 20_000);
        const a = await started('alice');
        await a.dial(b.publicKey, { addresses: b.listenAddresses.map(String) });
        expect(await echoRoundTrip(a, b, 'responsive')).to.equal('responsive');
        expect(await echoRoundTrip(b, a, 'both ways')).to.equal('both ways');
        expect(b.connections()).to.have.length(201);
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
    });

    it('waits on 16 silent sockets at once without a listener-leak warning, and still serves a real peer', async () => {
      const b = await started('bob');
      const warnings: string[] = [];
      const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
      process.on('warning', onWarning);
      const silent = await Promise.all(Array.from({ length: 16 }, () => rawTo(b)));
      try {
        const a = await started('alice');
        await a.dial(b.publicKey, { addresses: b.listenAddresses.map(String) });
        expect(await echoRoundTrip(a, b, 'served')).to.equal('served');
        await new Promise((r) => setTimeout(r, 20)); // warnings are emitted on a later tick
        expect(warnings.filter((w) => w.includes('MaxListeners'))).to.deep.equal([]);
      } finally {
        process.off('warning', onWarning);
        for (const s of silent) s.destroy();
      }
    });
  });
}

describe('comms node lifecycle', function () {
  this.timeout(30_000);

  it('build() reports every configuration problem at once', () => {
    const err = (() => {
      try {
        new CommsBuilder()
          .withNetworkByte(0xa7)
          .withListenAddress('/ip4/1.2.3.4/udp/1')
          .withProtocol('/tari/identity/1.0.0', () => {})
          .withLimits({ maxConnections: 0 })
          .withTimeouts({ identityMs: -1 })
          .withMaxUnverifiedPeers(0)
          .build();
      } catch (e) {
        return e;
      }
    })();
    expect(err).to.be.instanceOf(CommsConfigInvalid);
    const problems = (err as CommsConfigInvalid).problems;
    expect(problems.length).to.be.at.least(6);
    expect(problems.join('\n')).to.match(/identity/).and.match(/0xa7/).and.match(/udp|listen address/).and.match(/reserved/).and.match(/maxConnections/).and.match(/identityMs/).and.match(/peers\.maxUnverified/);
    expect((err as CommsConfigInvalid).kind).to.equal('config');
  });

  it("refuses a keepalive interval that would exceed its peers' default Ping rate (0, off, and the minimum are accepted)", () => {
    const build = (keepaliveIntervalMs: number) => () => new CommsBuilder().withNodeIdentity(NodeIdentity.generate()).withTimeouts({ keepaliveIntervalMs }).build();
    // The minimum is where one Ping per interval meets the Pings a peer answers by default.
    expect(MIN_KEEPALIVE_INTERVAL_MS * DEFAULT_YAMUX_CONFIG.pingsPerSecond).to.be.at.least(1000);
    expect((MIN_KEEPALIVE_INTERVAL_MS - 1) * DEFAULT_YAMUX_CONFIG.pingsPerSecond).to.be.below(1000);
    for (const ms of [1, 50, MIN_KEEPALIVE_INTERVAL_MS - 1]) {
      const err = (() => {
        try {
          build(ms)();
        } catch (e) {
          return e;
        }
      })();
      expect(err, `${ms} ms`).to.be.instanceOf(CommsConfigInvalid);
      expect((err as CommsConfigInvalid).kind).to.equal('config');
      expect((err as CommsConfigInvalid).problems).to.have.length(1);
      expect((err as CommsConfigInvalid).problems[0]).to.match(/keepaliveIntervalMs must be 0 \(off\) or at least 100 ms/);
    }
    for (const ms of [0, MIN_KEEPALIVE_INTERVAL_MS, 30_000]) expect(build(ms), `${ms} ms`).not.to.throw();
  });

  it('stops gracefully and keeps its peers in LMDB across a restart; dialing is refused before start and after stop', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcomms-node-'));
    try {
      const identity = NodeIdentity.generate();
      const make = () =>
        new CommsBuilder().withNodeIdentity(identity).withListenAddress('/ip4/127.0.0.1/tcp/0').withPeerStore({ kind: 'lmdb', path: join(dir, 'peers') }).build();
      const other = new CommsBuilder().withNodeIdentity(NodeIdentity.generate()).withListenAddress('/ip4/127.0.0.1/tcp/0').build();
      await other.start();
      const node = make();
      expect(await node.dial(other.publicKey).catch((e: unknown) => e)).to.be.instanceOf(NodeNotRunning);
      await node.start();
      await node.dial(other.publicKey, { addresses: other.listenAddresses.map(String) });
      const seenOther = record(other);
      await node.stop();
      // A graceful stop: the peer saw GoAway and a clean close, not an error.
      await until('other saw the disconnect', () => seenOther.some((e) => e.type === 'peer.disconnected'));
      expect(seenOther.find((e) => e.type === 'peer.disconnected')!.error).to.equal(undefined);
      expect(await node.dial(other.publicKey).catch((e: unknown) => e)).to.be.instanceOf(NodeNotRunning);
      const again = make();
      await again.start();
      const stored = await again.peers.find({ publicKey: other.publicKey });
      expect(stored?.claim).to.not.equal(undefined);
      // From the stored record alone.
      const info = await again.dial(other.publicKey);
      expect(info.publicKey).to.deep.equal(other.publicKey);
      await again.stop();
      await other.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs the handshake on the worker pool when the policy says so', async () => {
    const pooled = new CommsBuilder()
      .withNodeIdentity(NodeIdentity.generate())
      .withListenAddress('/ip4/127.0.0.1/tcp/0')
      .withCrypto({ policy: { handshakeOnPool: true, bulkPoolThreshold: 16 * 1024 }, poolThreads: 1 })
      .withProtocol(ECHO, (s) => void s.pipe(s))
      .build();
    const plain = new CommsBuilder().withNodeIdentity(NodeIdentity.generate()).withListenAddress('/ip4/127.0.0.1/tcp/0').withProtocol(ECHO, (s) => void s.pipe(s)).build();
    await Promise.all([pooled.start(), plain.start()]);
    try {
      await pooled.dial(plain.publicKey, { addresses: plain.listenAddresses.map(String) });
      const { stream } = await pooled.openStream(plain.publicKey, [ECHO]);
      const big = Buffer.alloc(256 * 1024, 3);
      const back = collect(stream);
      stream.end(big);
      expect((await back).equals(big)).to.equal(true);
    } finally {
      await Promise.all([pooled.stop(), plain.stop()]);
    }
  });

  it('does its X25519 work on the shared pool: six peers dial it at once, and the last node to stop closes the pool', async () => {
    const served = new CommsBuilder()
      .withNodeIdentity(NodeIdentity.generate())
      .withListenAddress('/ip4/127.0.0.1/tcp/0')
      .withCrypto({ policy: { x25519OnPool: true } })
      .withProtocol(ECHO, (s) => void s.pipe(s))
      .build();
    const peers = Array.from({ length: 6 }, () => new CommsBuilder().withNodeIdentity(NodeIdentity.generate()).withListenAddress('/ip4/127.0.0.1/tcp/0').build());
    const extra = new CommsBuilder().withNodeIdentity(NodeIdentity.generate()).withCrypto({ policy: { x25519OnPool: true } }).build();
    await Promise.all([served.start(), extra.start(), ...peers.map((p) => p.start())]);
    try {
      expect(sharedPoolUsers(), 'eight nodes (the service is on by default), one shared pool').to.equal(8);
      await extra.stop();
      expect(sharedPoolUsers()).to.equal(7);
      const inThread = new CommsBuilder().withNodeIdentity(NodeIdentity.generate()).withCrypto({ policy: { x25519OnPool: false } }).build();
      await inThread.start();
      expect(sharedPoolUsers(), 'a node with the service off takes no pool').to.equal(7);
      await inThread.stop();
      await Promise.all(peers.map((p) => p.dial(served.publicKey, { addresses: served.listenAddresses.map(String) })));
      await Promise.all(
        peers.map(async (p, i) => {
          const { stream } = await p.openStream(served.publicKey, [ECHO]);
          const data = Buffer.alloc(10_000 + i, i);
          const back = collect(stream);
          stream.end(data);
          expect((await back).equals(data)).to.equal(true);
        }),
      );
      expect(served.connections().length).to.equal(6);
    } finally {
      await Promise.all([served.stop(), extra.stop(), ...peers.map((p) => p.stop())]);
    }
    expect(sharedPoolUsers(), 'the last node released it').to.equal(0);
  });

  it('lets finished peer-connection actors go: 30 connect/disconnect cycles leave none behind', async () => {
    const make = () => new CommsBuilder().withNodeIdentity(NodeIdentity.generate()).withListenAddress('/ip4/127.0.0.1/tcp/0').build();
    const [a, b] = [make(), make()];
    await Promise.all([a.start(), b.start()]);
    try {
      await a.addPeer(b.publicKey, b.listenAddresses.map(String));
      for (let i = 0; i < 30; i++) {
        await a.dial(b.publicKey);
        a.disconnect(b.publicKey);
        await until('disconnected', () => a.connections().length === 0 && b.connections().length === 0);
      }
      for (const node of [a, b]) {
        const cm = node.actors.connectionManager;
        expect(Object.keys(cm.getSnapshot().children).sort()).to.deep.equal(['peerConnections']);
        // The host of the peer-connection actors holds none once they have ended.
        await until('actors let go', () => cm.getSnapshot().context.directory.size === 0);
        // The dialer let every finished dial actor go.
        expect(Object.keys(node.actors.dialer.getSnapshot().children)).to.deep.equal([]);
      }
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('each node has a turn budget of its own (the work per turn of its connections), which its dials hurry while they run', async () => {
    const network = new MemoryNetwork();
    const make = () =>
      new CommsBuilder()
        .withNodeIdentity(NodeIdentity.generate())
        .withTransport(new MemoryTransport({ network }))
        .withListenAddress('/memory/0')
        .allowMemoryAddresses()
        .build();
    const [a, b] = [make(), make()];
    await a.start();
    await b.start();
    try {
      const turnsOf = (n: CommsNode) => n.root!.getSnapshot().context.resources!.turns;
      expect(turnsOf(a)).to.be.instanceOf(TurnBudget);
      expect(turnsOf(a)).to.not.equal(turnsOf(b));
      expect(turnsOf(a)).to.not.equal(TurnBudget.shared);
      // Counts the holds each node's upgrades take.
      const hurried = [a, b].map((n) => {
        const turns = turnsOf(n);
        const urgent = turns.urgent.bind(turns);
        const count = { holds: 0 };
        turns.urgent = () => (count.holds++, urgent());
        return count;
      });
      await a.dial(b.publicKey, { addresses: [String(b.listenAddresses[0])] });
      await until('the inbound upgrade is over', () => b.connections().length === 1 && turnsOf(b).urgentHolds === 0);
      expect(hurried.map((h) => h.holds), 'the dial and the inbound upgrade each hurried their node').to.deep.equal([1, 1]);
      expect(turnsOf(a).urgentHolds).to.equal(0);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('a second stop() waits for the first to finish', async () => {
    const node = new CommsBuilder().withNodeIdentity(NodeIdentity.generate()).withListenAddress('/ip4/127.0.0.1/tcp/0').build();
    await node.start();
    const { peerManager, connectionManager } = node.actors;
    const first = node.stop();
    await node.stop();
    expect(peerManager.getSnapshot().status).to.equal('done');
    expect(connectionManager.getSnapshot().status).to.not.equal('active');
    await first;
  });

  it('fails to start with a typed error when its port is taken, and releases what it opened', async () => {
    const first = new CommsBuilder().withNodeIdentity(NodeIdentity.generate()).withListenAddress('/ip4/127.0.0.1/tcp/0').build();
    await first.start();
    const port = first.listenAddresses[0]!.getComponents()[1]!.value;
    const second = new CommsBuilder().withNodeIdentity(NodeIdentity.generate()).withListenAddress(`/ip4/127.0.0.1/tcp/${port}`).build();
    const err = await second.start().catch((e: unknown) => e);
    expect((err as Error).name).to.equal('NodeStartFailed');
    expect((err as NodeStartFailed).kind, 'the cause is the transport').to.equal('transport');
    expect(second.running).to.equal(false);
    await first.stop();
  });

  it('fails to start with the kind of its cause: a peer store another node has open is storage', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcomms-start-'));
    const first = new CommsBuilder().withNodeIdentity(NodeIdentity.generate()).withPeerStore({ kind: 'lmdb', path: dir }).build();
    await first.start();
    try {
      const second = new CommsBuilder().withNodeIdentity(NodeIdentity.generate()).withPeerStore({ kind: 'lmdb', path: dir }).build();
      const err = await second.start().catch((e: unknown) => e);
      expect(err).to.be.instanceOf(NodeStartFailed);
      expect((err as NodeStartFailed).error.name).to.equal('StoreInUse');
      expect((err as NodeStartFailed).kind).to.equal('storage');
      expect(second.running).to.equal(false);
    } finally {
      await first.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
