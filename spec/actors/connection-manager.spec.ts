import { expect } from 'chai';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { compareDistance, NodeIdentity, type PublicKey } from '../../core/keys.js';
import { ProtocolRegistry } from '../../channels/protocol-registry.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import { connectionManagerLogic, tieBreak, type ConnectionManagerEmitted, type ConnectionManagerRef } from '../../actors/connection-manager/index.js';
import { dialerLogic } from '../../actors/dialer/index.js';
import { listenerLogic, type ListenerReport } from '../../actors/listener/index.js';
import { PeerManagerClient, peerManagerLogic } from '../../actors/peer-manager/index.js';
import { ask } from '../../actors/request.js';
import { RequestFailed } from '../../core/errors.js';
import { MemoryPeerStore } from '../../storage/memory-store.js';
import { TcpTransport } from '../../transports/tcp/tcp.js';
import { recorder, testSystem, type TestSystem } from '../support/actors.js';
import { testNode } from '../support/nodes.js';
import { until } from '../support/wait.js';
import { collect } from '../support/streams.js';

interface TestCm {
  name: string;
  actor: ConnectionManagerRef;
  system: TestSystem<Record<string, { logic: never }>>;
  peers: PeerManagerClient;
  identity: NodeIdentity;
  address: Multiaddr;
  seen: ConnectionManagerEmitted[];
  connections(): PeerConnection[];
}

/** A connection-manager dial failed. */
class ConnectRequestFailed extends RequestFailed {}

/** Dials through the connection manager (as the node does). */
async function connect(actor: ConnectionManagerRef, publicKey: PublicKey): Promise<PeerConnection> {
  const reply = await ask(actor).reply('connection-manager.reply', (requestId) => ({ type: 'connection-manager.dial', requestId, publicKey }), 30_000);
  if (reply.ok) return reply.connection;
  throw new ConnectRequestFailed(reply.error);
}

const echoProtocols = () => new ProtocolRegistry().register('/test/echo/1', (s) => void s.pipe(s));

/** A connection manager with a real peer manager, dialer and listener beside it, in one system. */
async function startCm(name: string, maxConnections?: number, protocols = echoProtocols()): Promise<TestCm> {
  const upgrade = testNode(name);
  const tcp = new TcpTransport();
  const owner = recorder<ListenerReport>();
  const system = testSystem({
    listenerOwner: { logic: owner.logic },
    peerManager: { logic: peerManagerLogic, input: { store: new MemoryPeerStore() } },
    connectionManager: { logic: connectionManagerLogic, input: { nodeId: upgrade.identity.nodeId, protocols, ...(maxConnections === undefined ? {} : { maxConnections }) } },
    dialer: { logic: dialerLogic, input: { transports: [tcp], upgrade, rounds: 1, attemptTimeoutMs: 5000 } },
    // The listener reports to its owner (the stand-in) once bound.
    listener: { logic: listenerLogic, inputFrom: (get) => ({ endpoints: [{ transport: tcp, address: multiaddr('/ip4/127.0.0.1/tcp/0') }], upgrade, owner: get('listenerOwner') }) },
  });
  const actor = system.get('connectionManager');
  const seen: ConnectionManagerEmitted[] = [];
  for (const type of ['peer.connected', 'peer.disconnected', 'peer.connect-failed', 'peer.violation'] as const) {
    actor.on(type, (e) => seen.push(e as ConnectionManagerEmitted));
  }
  await until('listening', () => owner.seen.some((e) => e.type === 'listener.listening'));
  const listening = owner.seen.find((e) => e.type === 'listener.listening') as Extract<ListenerReport, { type: 'listener.listening' }>;
  return {
    name,
    actor,
    system: system as never,
    peers: new PeerManagerClient(system.get('peerManager')),
    identity: upgrade.identity,
    address: listening.addresses[0]!,
    seen,
    connections: () => [...actor.getSnapshot().context.connections.values()],
  };
}

async function stopCm(cm: TestCm): Promise<void> {
  cm.actor.send({ type: 'connection-manager.stop' });
  await until('stopped', () => cm.actor.getSnapshot().status === 'done');
  await cm.peers.stop();
  cm.system.stop();
}

const learn = (at: TestCm, about: TestCm) =>
  at.peers.add({ publicKey: about.identity.publicKey, nodeId: about.identity.nodeId, addresses: [{ address: String(about.address), source: 'config' }] });

describe('simultaneous-dial tie-break (pure)', () => {
  it('keeps the newer on the same direction; otherwise the smaller NodeId keeps its outbound', () => {
    const [small, large] = [NodeIdentity.generate(), NodeIdentity.generate()].sort((a, b) => compareDistance(a.nodeId, b.nodeId));
    expect(tieBreak(small!.nodeId, large!.nodeId, 'inbound', 'inbound')).to.equal('incoming');
    expect(tieBreak(small!.nodeId, large!.nodeId, 'inbound', 'outbound')).to.equal('incoming'); // small keeps its outbound
    expect(tieBreak(small!.nodeId, large!.nodeId, 'outbound', 'inbound')).to.equal('existing');
    expect(tieBreak(large!.nodeId, small!.nodeId, 'inbound', 'outbound')).to.equal('existing'); // large keeps its inbound
    expect(tieBreak(large!.nodeId, small!.nodeId, 'outbound', 'inbound')).to.equal('incoming');
  });
});

describe('connection manager actor', function () {
  this.timeout(30_000);
  let nodes: TestCm[] = [];
  afterEach(async () => {
    for (const n of nodes) await stopCm(n);
    nodes = [];
  });

  it('connects two nodes over TCP: both publish peer.connected, substreams work both ways', async () => {
    const a = await startCm('a');
    const b = await startCm('b');
    nodes = [a, b];
    await learn(a, b);
    const conn = await connect(a.actor, b.identity.publicKey);
    expect(conn.peer.userAgent).to.equal('b');
    await until('b sees a', () => b.seen.some((e) => e.type === 'peer.connected'));
    expect(a.connections()).to.have.length(1);
    expect(b.connections()).to.have.length(1);
    // Each side recorded the other's checked identity: its signed claim and claimed addresses.
    let stored: Awaited<ReturnType<PeerManagerClient['find']>>;
    const deadline = Date.now() + 5000;
    while (!(stored = await b.peers.find({ publicKey: a.identity.publicKey }))?.claim && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(stored!.userAgent).to.equal('a');
    expect(stored!.claim!.signature).to.have.length(64);
    expect(stored!.addresses.map((x) => x.address)).to.deep.equal(['/ip4/127.0.0.1/tcp/18141']);
    expect(stored!.addresses[0]!.source).to.equal('identity');
    const { stream } = await conn.openStream(['/test/echo/1']);
    const back = collect(stream);
    stream.end('through the manager');
    expect((await back).toString()).to.equal('through the manager');
  });

  it('ends a simultaneous dial from both sides with exactly one connection on both nodes, the same one', async () => {
    let resolveGot: (text: string) => void;
    const got = new Promise<string>((resolve) => (resolveGot = resolve));
    const recorder = new ProtocolRegistry().register('/x/1', async (s) => {
      resolveGot((await collect(s)).toString());
      s.end();
    });
    const a = await startCm('a');
    const b = await startCm('b', undefined, recorder);
    nodes = [a, b];
    await Promise.all([learn(a, b), learn(b, a)]);
    const results = await Promise.allSettled([connect(a.actor, b.identity.publicKey), connect(b.actor, a.identity.publicKey)]);
    expect(results.every((r) => r.status === 'fulfilled')).to.equal(true);
    await new Promise((r) => setTimeout(r, 300)); // let the dropped connection finish closing
    expect(a.connections()).to.have.length(1);
    expect(b.connections()).to.have.length(1);
    const [ka, kb] = [a.connections()[0]!, b.connections()[0]!];
    expect(ka.direction).to.not.equal(kb.direction);
    expect(ka.muxer.closed || kb.muxer.closed).to.equal(false);
    // The kept connections are the two ends of one: a substream from a arrives on b's.
    const { stream } = await ka.openStream(['/x/1']);
    stream.on('error', () => {});
    stream.resume();
    stream.end('one connection');
    expect(await got).to.equal('one connection');
    expect(a.seen.filter((e) => e.type === 'peer.connected')).to.have.length(1);
    expect(b.seen.filter((e) => e.type === 'peer.connected')).to.have.length(1);
  });

  it('closes connections beyond its limit, and publishes disconnects both ways', async () => {
    const b = await startCm('b', 1);
    const a = await startCm('a');
    const c = await startCm('c');
    nodes = [a, b, c];
    await Promise.all([learn(a, b), learn(c, b)]);
    await connect(a.actor, b.identity.publicKey);
    await until('b has a', () => b.connections().length === 1);
    await connect(c.actor, b.identity.publicKey).catch(() => undefined);
    await until('c disconnected', () => c.seen.some((e) => e.type === 'peer.disconnected') || c.connections().length === 0);
    expect(b.connections()).to.have.length(1);
    expect(b.connections()[0]!.peer.userAgent).to.equal('a');
    a.actor.send({ type: 'connection-manager.disconnect', publicKey: b.identity.publicKey });
    await until('a disconnected', () => a.seen.some((e) => e.type === 'peer.disconnected'));
    await until('b disconnected', () => b.seen.some((e) => e.type === 'peer.disconnected'));
    expect(a.connections()).to.have.length(0);
  });

  it('keeps its peer-connection actors out of its snapshot (its children do not grow with its connections) but in its actor system', async () => {
    const b = await startCm('b');
    nodes = [b];
    const created: string[] = [];
    b.actor.system.inspect((e) => {
      const id = (e.actorRef as { id?: string }).id ?? '';
      if (e.type === '@xstate.actor' && id.startsWith('peerConnection:')) created.push(id);
    });
    const childrenOf = (cm: TestCm) => Object.keys(cm.actor.getSnapshot().children).sort();
    const hosted = (cm: TestCm) => cm.actor.getSnapshot().context.directory.size;
    const before = childrenOf(b);
    expect(before).to.include('peerConnections');
    const clients = [];
    for (let i = 0; i < 6; i++) {
      const c = await startCm(`c${i}`);
      nodes.push(c);
      clients.push(c);
      await learn(c, b);
      await connect(c.actor, b.identity.publicKey);
    }
    await until('b keeps 6', () => b.connections().length === 6);
    expect(childrenOf(b)).to.deep.equal(before);
    expect(created).to.have.length(6);
    expect(hosted(b)).to.equal(6);
    // Substreams opened by the clients are dispatched by b's peer-connection actors.
    for (const c of clients) {
      const { stream } = await c.connections()[0]!.openStream(['/test/echo/1']);
      const back = collect(stream);
      stream.end(c.name);
      expect((await back).toString()).to.equal(c.name);
    }
    for (const c of clients) c.actor.send({ type: 'connection-manager.disconnect', publicKey: b.identity.publicKey });
    await until('b keeps none', () => b.connections().length === 0);
    await until('b hosts none', () => hosted(b) === 0);
    expect(b.seen.filter((e) => e.type === 'peer.disconnected')).to.have.length(6);
    expect(childrenOf(b)).to.deep.equal(before);
  });

  it('stopped abruptly (its system stopped), it closes the connections its peer-connection actors own: the peer sees them end', async () => {
    const a = await startCm('a');
    const b = await startCm('b');
    nodes = [a];
    await learn(a, b);
    await connect(a.actor, b.identity.publicKey);
    await until('b keeps a', () => b.connections().length === 1);
    const kept = b.connections()[0]!;
    b.system.stop();
    await until('a sees b go', () => a.seen.some((e) => e.type === 'peer.disconnected'), 5_000);
    expect(kept.muxer.closed).to.equal(true);
  });

  it('reports a peer-connection actor that crashes (a bug) as a failed child, aborts the connection it owned, and keeps running', async () => {
    const a = await startCm('a');
    const b = await startCm('b');
    nodes = [a, b];
    const failed: ConnectionManagerEmitted[] = [];
    a.actor.on('connection-manager.child-failed', (e) => void failed.push(e));
    // An actor for a connection without a muxer: its watcher throws as it starts. No kept connection is lost.
    a.actor.getSnapshot().context.host.send({ type: 'host.start', key: 'broken', id: 'peerConnection:broken', input: { connection: {} as PeerConnection, protocols: new ProtocolRegistry() } });
    await until('reported', () => failed.length === 1, 2_000);
    expect(failed[0]).to.deep.include({ type: 'connection-manager.child-failed', child: 'peerConnection' });
    // A kept connection's actor crashes (a reply-to that is no actor makes its reply throw): the
    // connection has no owner left, so it is aborted and forgotten; the peer sees it end.
    await learn(a, b);
    await connect(a.actor, b.identity.publicKey);
    await until('b keeps a', () => b.connections().length === 1);
    const actor = a.actor.getSnapshot().context.directory.get(a.actor.getSnapshot().context.actors.get(Buffer.from(b.identity.publicKey).toString('hex'))!)!;
    actor.send({ type: 'peer-connection.open-substream', requestId: 'bug', protocols: ['/none/1'], replyTo: {} as never });
    await until('reported again', () => failed.length === 2, 5_000);
    await until('a forgot it', () => a.connections().length === 0 && a.seen.some((e) => e.type === 'peer.disconnected'));
    await until('b sees it end', () => b.connections().length === 0, 5_000);
    expect(a.actor.getSnapshot().status).to.equal('active');
  });

  it('publishes peer.connect-failed and answers the dial when the peer cannot be reached', async () => {
    const a = await startCm('a');
    nodes = [a];
    const ghost = NodeIdentity.generate();
    await a.peers.add({ publicKey: ghost.publicKey, nodeId: ghost.nodeId, addresses: [{ address: '/ip4/127.0.0.1/tcp/1', source: 'config' }] });
    const err = await connect(a.actor, ghost.publicKey).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ConnectRequestFailed);
    expect(a.seen.find((e) => e.type === 'peer.connect-failed')).to.not.equal(undefined);
  });
});
