import { expect } from 'chai';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { upgradeOutbound } from '../../channels/upgrade.js';
import { listenerLogic, type ListenerEmitted, type ListenerInput, type ListenerRef } from '../../actors/listener/index.js';
import type { ConnectionManagerInbox } from '../../actors/connection-manager/index.js';
import { recorder, testSystem, type TestSystem } from '../support/actors.js';
import { MemoryNetwork, MemoryTransport } from '../../transports/memory/memory.js';
import { TcpTransport } from '../../transports/tcp/tcp.js';
import type { Transport } from '../../transports/transport.js';
import { testNode } from '../support/nodes.js';
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

  it('bounds concurrent upgrades: silent sockets hold at most the bound, the rest are dropped, and slots come back', async () => {
    const bob = node('bob', { timeToFirstByteMs: 300 });
    const { seen, addresses } = await listening({
      endpoints: [{ transport: tcp, address: multiaddr('/ip4/127.0.0.1/tcp/0') }],
      upgrade: bob,
      maxConcurrentUpgrades: 2,
    });
    const silent = await Promise.all([tcp.dial(addresses[0]!), tcp.dial(addresses[0]!)]);
    silent.forEach((s) => s.stream.on('error', () => {}));
    await new Promise((r) => setTimeout(r, 50));
    const third = await tcp.dial(addresses[0]!);
    third.stream.on('error', () => {});
    await until('busy', () => seen.some((e) => e.type === 'connection.rejected' && e.reason === 'busy'));
    await until('silent sockets timed out', () => seen.filter((e) => e.type === 'connection.rejected' && e.reason === 'upgrade-failed').length === 2);
    const alice = node('alice');
    const out = await tcp.dial(addresses[0]!);
    const conn = await upgradeOutbound(out.stream, alice, { dialedPublicKey: bob.identity.publicKey });
    await until('inbound after the slots freed', () => seen.some((e) => e.type === 'connection.inbound'));
    conn.muxer.abort();
    silent.forEach((s) => s.stream.destroy());
    third.stream.destroy();
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
