import { expect } from 'chai';
import { multiaddr } from '@multiformats/multiaddr';
import { upgradeInbound, type PeerConnection, type UpgradeConfig } from '../../channels/upgrade.js';
import { dialerLogic, type DialerInput, type DialerRef } from '../../actors/dialer/index.js';
import { PeerManagerClient, peerManagerLogic } from '../../actors/peer-manager/index.js';
import { RequestFailed } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import { ask } from '../../actors/request.js';
import { testSystem, type TestSystem } from '../support/actors.js';
import { MemoryPeerStore } from '../../storage/memory-store.js';
import { TcpTransport } from '../../transports/tcp/tcp.js';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { blackhole } from '../support/blackhole.js';
import { until } from '../support/wait.js';
import { closedPort } from '../support/ports.js';
import { testNode } from '../support/nodes.js';

const node = testNode;

/** A dial request failed; `error` is the dial's error. */
class DialRequestFailed extends RequestFailed {}

/** Asks the dialer for a connection (as the connection manager does) and waits for its reply. */
async function dial(actor: DialerRef, publicKey: PublicKey, options: { addresses?: string[] } = {}): Promise<PeerConnection> {
  const reply = await ask(actor).reply('dial.reply', (requestId) => ({ type: 'dial.request', requestId, publicKey, ...(options.addresses ? { addresses: options.addresses } : {}) }), 30_000);
  if (reply.ok) return reply.connection;
  throw new DialRequestFailed(reply.error);
}

/** A responder on TCP that upgrades every inbound socket; counts them. */
async function responder(config: UpgradeConfig, listenAt = '/ip4/127.0.0.1/tcp/0') {
  const listener = await new TcpTransport().listen(multiaddr(listenAt));
  const connections: PeerConnection[] = [];
  let sockets = 0;
  void (async () => {
    for await (const c of listener) {
      sockets++;
      void upgradeInbound(c.stream, config).then((r) => connections.push(r as PeerConnection), () => c.stream.destroy());
    }
  })();
  return { listener, connections, sockets: () => sockets, address: String(listener.address) };
}

describe('dialer actor', function () {
  this.timeout(20_000);
  const tcp = new TcpTransport();
  let peers: PeerManagerClient;
  let actor: DialerRef;
  let system: TestSystem<Record<string, { logic: never }>> | undefined;
  let cleanup: Array<() => Promise<void> | void>;
  const alice = node('alice');

  /** The dialer beside a real peer manager, in one system (the dials find the peer manager there). */
  const start = (over: Partial<DialerInput> = {}) => {
    const s = testSystem({
      peerManager: { logic: peerManagerLogic, input: { store: new MemoryPeerStore() } },
      dialer: { logic: dialerLogic, input: { transports: [tcp], upgrade: alice, attemptTimeoutMs: 3000, rounds: 1, backoffMs: 50, ...over } },
    });
    system = s as never;
    actor = s.get('dialer');
    peers = new PeerManagerClient(s.get('peerManager'));
  };
  beforeEach(() => {
    cleanup = [];
  });
  afterEach(async () => {
    for (const c of cleanup.reverse()) await c();
    if (peers) await peers.stop();
    system?.stop();
  });

  it('dials a stored peer, checks its key, and writes the attempt back to the peer manager', async () => {
    const bob = node('bob');
    const r = await responder(bob);
    cleanup.push(() => r.listener.close());
    start();
    await peers.add({ publicKey: bob.identity.publicKey, nodeId: bob.identity.nodeId, addresses: [{ address: r.address, source: 'config' }] });
    const conn = await dial(actor, bob.identity.publicKey);
    expect(conn.peer.userAgent).to.equal('bob');
    const stored = (await peers.find({ publicKey: bob.identity.publicKey }))!;
    expect(stored.addresses[0]).to.deep.include({ attempts: 1, consecutiveFailures: 0 });
    expect(stored.addresses[0]!.avgDialMs).to.be.a('number');
    conn.muxer.abort();
  });

  it('runs one dial per peer: concurrent requests share its result', async () => {
    const bob = node('bob');
    const r = await responder(bob);
    cleanup.push(() => r.listener.close());
    start();
    await peers.add({ publicKey: bob.identity.publicKey, nodeId: bob.identity.nodeId, addresses: [{ address: r.address, source: 'config' }] });
    const results = await Promise.all([1, 2, 3, 4].map(() => dial(actor, bob.identity.publicKey)));
    expect(new Set(results).size).to.equal(1);
    expect(r.sockets()).to.equal(1);
    results[0]!.muxer.abort();
  });

  it('tries addresses in quality order and records failures; a dead address drops behind', async () => {
    const bob = node('bob');
    const r = await responder(bob);
    cleanup.push(() => r.listener.close());
    const dead = `/ip4/127.0.0.1/tcp/${await closedPort()}`;
    start();
    await peers.add({ publicKey: bob.identity.publicKey, nodeId: bob.identity.nodeId, addresses: [{ address: dead, source: 'config' }, { address: r.address, source: 'config' }] });
    (await dial(actor, bob.identity.publicKey)).muxer.abort();
    let stored = (await peers.find({ publicKey: bob.identity.publicKey }))!;
    const byAddress = Object.fromEntries(stored.addresses.map((a) => [a.address, a]));
    expect(byAddress[dead]).to.deep.include({ consecutiveFailures: 1 });
    expect(byAddress[dead]!.lastFailureReason).to.match(/ConnectionRefused/);
    // Now the working address is first: a second dial makes no attempt on the dead one.
    (await dial(actor, bob.identity.publicKey)).muxer.abort();
    stored = (await peers.find({ publicKey: bob.identity.publicKey }))!;
    expect(Object.fromEntries(stored.addresses.map((a) => [a.address, a.attempts]))).to.deep.equal({ [dead]: 1, [r.address]: 2 });
  });

  it('fails when the peer at the address is not the key dialed, without an active connection', async () => {
    const bob = node('bob');
    const impostor = node('mallory');
    const r = await responder(impostor);
    cleanup.push(() => r.listener.close());
    start();
    await peers.add({ publicKey: bob.identity.publicKey, nodeId: bob.identity.nodeId, addresses: [{ address: r.address, source: 'config' }] });
    const err = await dial(actor, bob.identity.publicKey).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(DialRequestFailed);
    expect((err as DialRequestFailed).error.name).to.equal('DialExhausted');
    expect((err as DialRequestFailed).error.message).to.match(/DialedPublicKeyMismatch/);
    expect(r.connections).to.have.length(0);
  });

  it('retries in rounds with backoff until the peer comes up', async () => {
    const bob = node('bob');
    const port = await closedPort();
    const address = `/ip4/127.0.0.1/tcp/${port}`;
    start({ rounds: 6, backoffMs: 50 });
    await peers.add({ publicKey: bob.identity.publicKey, nodeId: bob.identity.nodeId, addresses: [{ address, source: 'config' }] });
    const pending = dial(actor, bob.identity.publicKey);
    await new Promise((res) => setTimeout(res, 120));
    const r = await responder(bob, address);
    cleanup.push(() => r.listener.close());
    const conn = await pending;
    expect(conn.peer.userAgent).to.equal('bob');
    const stored = (await peers.find({ publicKey: bob.identity.publicKey }))!;
    expect(stored.addresses[0]!.attempts).to.be.greaterThan(1);
    conn.muxer.abort();
  });

  it('cancels a dial at once, and fails a peer with no address', async () => {
    const bob = node('bob');
    const hole = await blackhole();
    cleanup.push(() => hole.close());
    start({ attemptTimeoutMs: 60_000 });
    const pending = dial(actor, bob.identity.publicKey, { addresses: [`/ip4/127.0.0.1/tcp/${hole.port}`] }).catch((e: unknown) => e);
    await new Promise((res) => setTimeout(res, 50));
    const t = Date.now();
    actor.send({ type: 'dial.cancel', publicKey: bob.identity.publicKey });
    const err = await pending;
    expect(Date.now() - t).to.be.lessThan(1000);
    expect((err as DialRequestFailed).error.name).to.equal('DialAborted');
    const none = await dial(actor, node('nobody').identity.publicKey).catch((e: unknown) => e);
    expect((none as DialRequestFailed).error.message).to.match(/no address/);
  });

  it('cancelling a dial in its handshake closes its socket; a dial that succeeded keeps its connection', async () => {
    // A server that accepts and never answers: the dial waits for Noise message 2.
    const accepted: Socket[] = [];
    const server = createServer((s) => void accepted.push(s.on('error', () => {}).resume()));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.push(() => void server.close());
    start({ attemptTimeoutMs: 60_000 });
    const bob = node('bob');
    const pending = dial(actor, bob.identity.publicKey, { addresses: [`/ip4/127.0.0.1/tcp/${(server.address() as { port: number }).port}`] }).catch((e: unknown) => e);
    await until('the dial reached the server', () => accepted.length > 0, 5_000);
    expect(accepted.length).to.equal(1);
    const closed = once(accepted[0]!, 'close');
    actor.send({ type: 'dial.cancel', publicKey: bob.identity.publicKey });
    expect(((await pending) as DialRequestFailed).error.name).to.equal('DialAborted');
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the cancelled dial kept its socket')), 2_000))]);

    // The dialer lets the child of a finished dial go: that must not touch its connection.
    const carol = node('carol');
    const r = await responder(carol);
    cleanup.push(() => r.listener.close());
    const connection = await dial(actor, carol.identity.publicKey, { addresses: [r.address] });
    await new Promise((res) => setTimeout(res, 50));
    expect(connection.muxer.closed).to.equal(false);
    await connection.close();
  });
});
