import { expect } from 'chai';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { upgradeOutbound } from '../../channels/upgrade.js';
import { listenerLogic, type ListenerEmitted, type ListenerInput, type ListenerRef, type ListenerReport } from '../../actors/listener/index.js';
import type { ConnectionManagerInbox } from '../../actors/connection-manager/index.js';
import { recorder, testSystem, type TestSystem } from '../support/actors.js';
import { MemoryNetwork, MemoryTransport } from '../../transports/memory/memory.js';
import { TcpTransport } from '../../transports/tcp/tcp.js';
import type { Transport } from '../../transports/transport.js';
import { testNode } from '../support/nodes.js';
import { NodeIdentity } from '../../core/keys.js';
import { NoiseSecureChannel, noiseStaticKeys } from '../../channels/secure-channel.js';
import { until } from '../support/wait.js';

const node = testNode;

function record(actor: ListenerRef): ListenerEmitted[] {
  const seen: ListenerEmitted[] = [];
  for (const type of ['listener.listening', 'listener.failed', 'connection.inbound', 'connection.rejected'] as const) actor.on(type, (e) => seen.push(e as ListenerEmitted));
  return seen;
}


describe('listener actor', function () {
  this.timeout(20_000);
  const tcp = new TcpTransport();
  const memory = new MemoryTransport({ network: new MemoryNetwork() });
  let actor: ListenerRef | undefined;
  let system: TestSystem<Record<string, { logic: never }>> | undefined;
  /** What the listener handed the connection manager (a stand-in). */
  let handed: ConnectionManagerInbox[] = [];
  afterEach(async () => {
    actor?.send({ type: 'listener.stop' });
    if (actor) await until('stopped', () => actor!.getSnapshot().status === 'done');
    actor = undefined;
    system?.stop();
  });

  /** The listener in a system with a stand-in connection manager. */
  function startListener(input: ListenerInput): ListenerRef {
    const cm = recorder<ConnectionManagerInbox>();
    handed = cm.seen;
    const s = testSystem({ connectionManager: { logic: cm.logic }, listener: { logic: listenerLogic, input } });
    system = s as never;
    return s.get('listener');
  }

  async function listening(input: ListenerInput): Promise<{ seen: ListenerEmitted[]; addresses: Multiaddr[] }> {
    actor = startListener(input);
    const seen = record(actor);
    await until('listening', () => seen.some((e) => e.type === 'listener.listening' || e.type === 'listener.failed'));
    const ev = seen.find((e) => e.type === 'listener.listening');
    return { seen, addresses: ev && ev.type === 'listener.listening' ? ev.addresses : [] };
  }

  it('accepts on every configured transport and hands on authenticated connections', async () => {
    const bob = node('bob');
    const { seen, addresses } = await listening({
      endpoints: [
        { transport: tcp, address: multiaddr('/ip4/127.0.0.1/tcp/0') },
        { transport: memory, address: multiaddr('/memory/0') },
      ],
      upgrade: bob,
    });
    expect(addresses.map(String)).to.have.length(2);
    for (const [i, transport] of [tcp, memory].entries() as Iterable<[number, Transport]>) {
      const alice = node(`alice-${i}`);
      const out = await transport.dial(addresses[i]!);
      const conn = await upgradeOutbound(out.stream, alice, { dialedPublicKey: bob.identity.publicKey });
      await until('inbound', () => seen.filter((e) => e.type === 'connection.inbound').length === i + 1);
      const inbound = seen.filter((e) => e.type === 'connection.inbound')[i]!;
      expect(inbound.type === 'connection.inbound' && inbound.connection.peer.userAgent).to.equal(`alice-${i}`);
      // Handed to the connection manager.
      const opened = handed.filter((e) => e.type === 'connection.opened')[i];
      expect(opened?.type === 'connection.opened' && opened.connection).to.equal(inbound.type === 'connection.inbound' && inbound.connection);
      conn.muxer.abort();
    }
  });

  it('rejects a banned peer after the handshake', async () => {
    const bob = node('bob');
    const alice = node('alice');
    const banned = Buffer.from(alice.identity.publicKey).toString('hex');
    const { seen, addresses } = await listening({
      endpoints: [{ transport: tcp, address: multiaddr('/ip4/127.0.0.1/tcp/0') }],
      upgrade: bob,
      isBanned: (pk) => Buffer.from(pk).toString('hex') === banned,
    });
    const out = await tcp.dial(addresses[0]!);
    const conn = await upgradeOutbound(out.stream, alice, { dialedPublicKey: bob.identity.publicKey }).catch(() => undefined);
    await until('rejected', () => seen.some((e) => e.type === 'connection.rejected'));
    expect(seen.find((e) => e.type === 'connection.rejected')).to.deep.include({ reason: 'banned' });
    expect(seen.some((e) => e.type === 'connection.inbound')).to.equal(false);
    expect(handed.find((e) => e.type === 'inbound.rejected')).to.deep.include({ reason: 'banned' });
    if (conn) await until('closed by the listener', () => conn.muxer.closed);
  });

  /** A raw socket to `address` from another loopback address (127.0.0.0/8 is all loopback). */
  async function from(localAddress: string, address: Multiaddr): Promise<Socket> {
    const port = Number(address.getComponents()[1]!.value);
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    socket.on('error', () => {});
    await once(socket, 'connect');
    return socket;
  }

  /** The good peer, from 127.0.0.1: a full upgrade. */
  async function goodPeer(address: Multiaddr, bob: ReturnType<typeof node>) {
    const out = await tcp.dial(address);
    return upgradeOutbound(out.stream, node('alice'), { dialedPublicKey: bob.identity.publicKey });
  }

  /** The wire byte and a valid XX message 1 (a length prefix and an ephemeral key): what takes an upgrade slot. */
  const firstMessage = () => Buffer.concat([Buffer.of(0x00, 0x00, 0x20), Buffer.alloc(32, 9)]);

  it('silent sockets take no upgrade slot and are bounded per address: the good peer is served while they wait', async () => {
    const bob = node('bob', { timeToFirstByteMs: 10_000 });
    const { seen, addresses } = await listening({
      endpoints: [{ transport: tcp, address: multiaddr('/ip4/127.0.0.1/tcp/0') }],
      upgrade: bob,
      maxConcurrentUpgrades: 2,
      admission: { maxWaitingPerAddress: 8 },
    });
    // Ten silent sockets from 127.0.0.2: eight wait (its bound), two are refused at once.
    const silent = await Promise.all(Array.from({ length: 10 }, () => from('127.0.0.2', addresses[0]!)));
    await until('two refused', () => seen.filter((e) => e.type === 'connection.rejected' && e.reason === 'busy').length === 2);
    // With eight silent sockets waiting and two upgrade slots, the good peer connects at once.
    const conn = await goodPeer(addresses[0]!, bob);
    await until('inbound', () => seen.some((e) => e.type === 'connection.inbound'));
    expect(seen.filter((e) => e.type === 'connection.rejected')).to.have.length(2);
    conn.muxer.abort();
    silent.forEach((s) => s.destroy());
  });

  it('a full waiting pool sheds the oldest silent socket of the busiest address: the good peer from another address connects', async () => {
    // Before: a full pool refused every newcomer, so silent sockets from a few addresses kept everyone out.
    const bob = node('bob', { timeToFirstByteMs: 10_000 });
    const { seen, addresses } = await listening({
      endpoints: [{ transport: tcp, address: multiaddr('/ip4/127.0.0.1/tcp/0') }],
      upgrade: bob,
      admission: { maxWaiting: 4, maxWaitingPerAddress: 2 },
    });
    const busy = () => seen.filter((e) => e.type === 'connection.rejected' && e.reason === 'busy');
    // Three silent sockets from 127.0.0.2, then three from 127.0.0.3: two of each wait (their
    // share), the third of each is refused, and each refusal proves its address's two are in.
    const silent: Socket[] = [];
    for (const [i, local] of ['127.0.0.2', '127.0.0.3'].entries()) {
      silent.push(...(await Promise.all(Array.from({ length: 3 }, () => from(local, addresses[0]!)))));
      await until(`${local} at its share`, () => busy().length === i + 1);
    }
    // The pool is full (4). The good peer sheds the oldest silent socket of the busiest address.
    const conn = await goodPeer(addresses[0]!, bob);
    await until('inbound', () => seen.some((e) => e.type === 'connection.inbound'));
    await until('one shed', () => busy().length === 3);
    expect(busy()[2]).to.nested.include({ 'error.name': 'UpgradeShed', 'error.message': 'shed to make room for a newcomer: every waiting place was taken' });
    expect(seen.filter((e) => e.type === 'connection.rejected')).to.have.length(3);
    conn.muxer.abort();
    silent.forEach((s) => s.destroy());
  });

  it('sockets that send the wire byte and stop take no upgrade slot: they shed neither each other nor the good peer', async () => {
    // bench:hostile: 1,000 such sockets from 50 addresses shed each other as fast as they
    // reconnected, each shed a socket set up, closed and reported.
    const identity = NodeIdentity.generate();
    const bob = node('bob', { identity, timeToFirstByteMs: 10_000, channel: new NoiseSecureChannel({ staticKeys: noiseStaticKeys(identity), recvTimeoutMs: 300 }) });
    const { seen, addresses } = await listening({
      endpoints: [{ transport: tcp, address: multiaddr('/ip4/127.0.0.1/tcp/0') }],
      upgrade: bob,
      maxConcurrentUpgrades: 2,
      upgradeTimeoutMs: 60_000,
    });
    const stoppers = await Promise.all(Array.from({ length: 8 }, (_, i) => from(`127.0.0.${2 + i}`, addresses[0]!)));
    for (const s of stoppers) s.resume().write(Uint8Array.of(0x00));
    // Each waits for message 1 until the handshake's receive timeout, holding no slot.
    await until('all eight rejected', () => seen.filter((e) => e.type === 'connection.rejected').length === 8);
    const names = seen.filter((e) => e.type === 'connection.rejected').map((e) => `${(e as { reason: string }).reason} ${(e as { error?: { name: string } }).error?.name}`);
    expect(names).to.deep.equal(Array(8).fill('upgrade-failed HandshakeTimeout'));
    const conn = await goodPeer(addresses[0]!, bob);
    await until('inbound', () => seen.some((e) => e.type === 'connection.inbound'));
    conn.muxer.abort();
    stoppers.forEach((s) => s.destroy());
  });

  it('stalled upgrades are bounded per address, and a newcomer sheds the oldest of the busiest address', async () => {
    const bob = node('bob', { timeToFirstByteMs: 10_000 });
    const { seen, addresses } = await listening({
      endpoints: [{ transport: tcp, address: multiaddr('/ip4/127.0.0.1/tcp/0') }],
      upgrade: { ...bob, channel: bob.channel },
      maxConcurrentUpgrades: 3,
      admission: { maxUpgradesPerAddress: 3 },
      upgradeTimeoutMs: 60_000,
    });
    // Three sockets from 127.0.0.2 send the wire byte and message 1 and stall in the
    // handshake: they take every slot (its share).
    const stalled: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await from('127.0.0.2', addresses[0]!);
      const answered = once(s, 'data'); // message 2: its upgrade holds a slot
      s.write(firstMessage());
      await answered; // in order: the first is the oldest
      stalled.push(s);
    }
    const firstClosed = once(stalled[0]!, 'close');
    // The good peer takes a slot: the oldest upgrade of the busiest address is shed for it.
    const conn = await goodPeer(addresses[0]!, bob);
    await firstClosed;
    await until('inbound', () => seen.some((e) => e.type === 'connection.inbound'));
    const shed = seen.filter((e) => e.type === 'connection.rejected' && e.reason === 'busy').at(-1) as { error?: { name: string } };
    expect(shed.error?.name).to.equal('UpgradeShed');
    conn.muxer.abort();
    stalled.forEach((s) => s.destroy());
  });

  it('a socket whose address holds its share of upgrades waits for one of them to end, then upgrades (peers behind one address are served in turn, not refused)', async () => {
    const bob = node('bob', { timeToFirstByteMs: 10_000 });
    const { seen, addresses } = await listening({
      endpoints: [{ transport: tcp, address: multiaddr('/ip4/127.0.0.1/tcp/0') }],
      upgrade: bob,
      maxConcurrentUpgrades: 8,
      admission: { maxUpgradesPerAddress: 1 },
      upgradeTimeoutMs: 60_000,
    });
    // A socket from 127.0.0.1 sends the wire byte and message 1 and stalls: it holds its
    // address's only slot.
    const staller = await from('127.0.0.1', addresses[0]!);
    const answered = once(staller, 'data');
    staller.write(firstMessage());
    await answered;
    // The good peer, from the same address, starts its upgrade: it waits for the slot.
    const out = await tcp.dial(addresses[0]!);
    const good = upgradeOutbound(out.stream, node('alice'), { dialedPublicKey: bob.identity.publicKey });
    good.catch(() => {});
    await until('its wire byte and first handshake message are out', () => (out.stream as Socket).bytesWritten >= 1 + 2 + 32);
    staller.destroy();
    const conn = await good;
    await until('inbound', () => seen.some((e) => e.type === 'connection.inbound'));
    expect(seen.filter((e) => e.type === 'connection.rejected' && e.reason === 'busy')).to.deep.equal([]);
    conn.muxer.abort();
  });

  it('a newcomer sheds the upgrade that made the least progress, not an older one handshaking (each address holding one)', async () => {
    // bench:hostile: 1,000 sockets from 50 addresses sending the wire byte and stalling shed the
    // good peer's upgrade whenever it was the oldest, since each newcomer shed the oldest of all.
    const bob = node('bob', { timeToFirstByteMs: 10_000 });
    const { seen, addresses } = await listening({
      endpoints: [{ transport: tcp, address: multiaddr('/ip4/127.0.0.1/tcp/0') }],
      upgrade: bob,
      maxConcurrentUpgrades: 2,
      upgradeTimeoutMs: 60_000,
    });
    // The oldest upgrade: a whole Noise handshake (101 bytes), then nothing (no yamux, no
    // identity): bob waits for its identity.
    const ahead = await from('127.0.0.2', addresses[0]!);
    await node('alice').channel.secureOutbound(ahead, { preamble: Uint8Array.of(0x00), dialedPublicKey: bob.identity.publicKey });
    // Two newcomers from two more addresses send the wire byte and message 1 and stall: one
    // takes the last slot, the other sheds the least advanced upgrade, which is one of them.
    const stallers = [await from('127.0.0.3', addresses[0]!), await from('127.0.0.4', addresses[0]!)];
    const closedOne = Promise.race(stallers.map((s) => once(s, 'close')));
    for (const s of stallers) s.resume().write(firstMessage()); // (read, so that the victim's close is seen)
    await closedOne;
    await until('the shed reported', () => seen.some((e) => e.type === 'connection.rejected' && (e as { error?: { name: string } }).error?.name === 'UpgradeShed'));
    expect(ahead.destroyed, 'the upgrade that got furthest is kept').to.equal(false);
    expect(stallers.filter((s) => s.destroyed)).to.have.length(1);
    ahead.destroy();
    stallers.forEach((s) => s.destroy());
  });

  it('one deadline for the whole upgrade: a peer that trickles its handshake is cut off at it', async () => {
    const bob = node('bob', { timeToFirstByteMs: 10_000 });
    const { seen, addresses } = await listening({
      endpoints: [{ transport: tcp, address: multiaddr('/ip4/127.0.0.1/tcp/0') }],
      upgrade: bob,
      upgradeTimeoutMs: 300,
    });
    const s = await from('127.0.0.3', addresses[0]!);
    s.write(Uint8Array.of(0x00, 0x00)); // the wire byte and half a length prefix, then nothing
    await until('cut off', () => seen.some((e) => e.type === 'connection.rejected' && (e as { error?: { name: string } }).error?.name === 'UpgradeTimeout'), 3_000);
    s.destroy();
  });

  it('an address whose sockets broke the protocol waits before its next sockets are read (bounded, expiring)', async () => {
    const bob = node('bob');
    const { seen, addresses } = await listening({
      endpoints: [{ transport: tcp, address: multiaddr('/ip4/127.0.0.1/tcp/0') }],
      upgrade: bob,
      admission: { penaltyStepMs: 400, maxPenaltyMs: 800 },
    });
    const garbage = async () => {
      const s = await from('127.0.0.4', addresses[0]!);
      s.write(Buffer.concat([Uint8Array.of(0x00), Buffer.from([0xff, 0xff]), Buffer.alloc(64, 1)])); // an oversized handshake frame
      await once(s, 'close');
    };
    await garbage();
    await garbage();
    // Penalised: a third socket from that address is only read after the delay.
    const t = Date.now();
    await garbage();
    expect(Date.now() - t).to.be.at.least(700);
    // Another address is not slowed.
    const conn = await goodPeer(addresses[0]!, bob);
    expect(seen.some((e) => e.type === 'connection.inbound')).to.equal(true);
    conn.muxer.abort();
  });

  it('a connection whose peer breaks the protocol after the upgrade penalises its address too', async () => {
    const bob = node('bob');
    const { addresses } = await listening({
      endpoints: [{ transport: tcp, address: multiaddr('/ip4/127.0.0.1/tcp/0') }],
      upgrade: bob,
      admission: { penaltyStepMs: 400, maxPenaltyMs: 800 },
    });
    // Two upgraded connections from 127.0.0.5, each with a fresh identity, then a Ping flood
    // (300 at once: past the default burst and its debt, the violation ping-flood).
    for (let i = 0; i < 2; i++) {
      const s = await from('127.0.0.5', addresses[0]!);
      const conn = await upgradeOutbound(s, node(`mallory${i}`), { dialedPublicKey: bob.identity.publicKey });
      for (let p = 0; p < 300; p++) conn.muxer.sendPing();
      const goAway = await new Promise<number>((resolve) => conn.muxer.once('goaway', resolve));
      expect(goAway, 'the victim answered the flood with GoAway(1)').to.equal(1);
      conn.muxer.abort();
    }
    // Penalised: a third socket from that address is read only after the delay.
    const s = await from('127.0.0.5', addresses[0]!);
    const t = Date.now();
    const answered = new Promise<void>((resolve) => s.once('data', () => resolve()));
    s.write(Buffer.concat([Uint8Array.of(0x00, 0x00, 0x20), Buffer.alloc(32, 9)])); // the wire byte and Noise message 1
    await answered;
    expect(Date.now() - t, 'its handshake answered after the penalty').to.be.at.least(700);
    s.destroy();
  });

  it('fails (final state, listener.failed) when an address cannot be opened, closing the others', async () => {
    const taken = await tcp.listen(multiaddr('/ip4/127.0.0.1/tcp/0'));
    try {
      const { seen } = await listening({
        endpoints: [
          { transport: memory, address: multiaddr('/memory/0') },
          { transport: tcp, address: taken.address },
        ],
        upgrade: node('bob'),
      });
      expect(seen.find((e) => e.type === 'listener.failed')).to.deep.nested.include({ 'error.name': 'ListenFailed' });
      expect(actor!.getSnapshot().value).to.equal('failed');
      expect(memory.network.size).to.equal(0);
    } finally {
      await taken.close();
    }
  });

  it('closes what it opened when stopped while still opening', async () => {
    actor = startListener({ endpoints: [{ transport: memory, address: multiaddr('/memory/4242') }], upgrade: node('bob') });
    actor.send({ type: 'listener.stop' });
    await until('stopped', () => actor!.getSnapshot().status === 'done');
    await until('the memory listener closed', () => memory.network.lookup(4242) === undefined, 2000);
  });

  it('stops: its listeners close and the actor is done', async () => {
    const { addresses } = await listening({ endpoints: [{ transport: tcp, address: multiaddr('/ip4/127.0.0.1/tcp/0') }], upgrade: node('bob') });
    actor!.send({ type: 'listener.stop' });
    await until('stopped', () => actor!.getSnapshot().status === 'done');
    expect(await tcp.dial(addresses[0]!).catch((e: unknown) => (e as Error).name)).to.equal('ConnectionRefused');
  });
});

describe('listener actor stopped abruptly', () => {
  it('closes its listening sockets when its system stops without listener.stop (no orphaned sockets)', async () => {
    const tcp = new TcpTransport();
    const owner = recorder<ListenerReport>();
    const system = testSystem({
      owner: { logic: owner.logic },
      listener: { logic: listenerLogic, inputFrom: (get) => ({ endpoints: [{ transport: tcp, address: multiaddr('/ip4/127.0.0.1/tcp/0') }], upgrade: testNode('bob'), owner: get('owner') }) },
    });
    await until('listening', () => owner.seen.some((e) => e.type === 'listener.listening'));
    const address = (owner.seen.find((e) => e.type === 'listener.listening') as Extract<ListenerReport, { type: 'listener.listening' }>).addresses[0]!;
    system.stop();
    let refused = false;
    for (let i = 0; i < 100 && !refused; i++) {
      refused = await tcp.dial(address).then((c) => (c.stream.destroy(), false), () => true);
      if (!refused) await new Promise((r) => setTimeout(r, 10));
    }
    expect(refused).to.equal(true);
  });
});
