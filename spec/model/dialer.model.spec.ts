/**
 * Model-based test (@xstate/graph) of the dialer: one path per transition of its graph, for two
 * peers with up to two waiting requests each, drives the real dialer actor over the memory
 * transport. Faults are injected in the transport: each dial waits until the step decides that
 * it connects (to a real listening peer, which runs the responder upgrade) or is refused.
 */
import { expect } from 'chai';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import type { EventFromLogic, SnapshotFrom } from 'xstate';
import { toHex } from '../../core/bytes.js';
import type { PublicKey } from '../../core/keys.js';
import { upgradeInbound, type PeerConnection } from '../../channels/upgrade.js';
import { dial, dialerMachine, DialRequestFailed, startDialer, type DialerActor } from '../../actors/dialer/index.js';
import { startPeerManager, type PeerManagerClient } from '../../actors/peer-manager/index.js';
import { MemoryPeerStore } from '../../storage/memory-store.js';
import { ConnectionRefused, DialAborted } from '../../transports/errors.js';
import { MemoryNetwork, MemoryTransport } from '../../transports/memory/memory.js';
import type { DialOptions, Transport, TransportConnection, TransportListener } from '../../transports/transport.js';
import { testNode } from '../support/nodes.js';
import { runPath, transitionCover } from '../support/model.js';
import { until } from '../support/wait.js';

type Snap = SnapshotFrom<typeof dialerMachine>;
type Ev = EventFromLogic<typeof dialerMachine>;

/** A memory transport whose dials wait for the test's decision. */
class ControlledTransport implements Transport {
  readonly name = 'memory';
  readonly waiting = new Map<string, { connect(): void; refuse(): void }>();
  constructor(readonly inner: MemoryTransport) {}
  canDial(address: Multiaddr): boolean {
    return this.inner.canDial(address);
  }
  listen(address: Multiaddr): Promise<TransportListener> {
    return this.inner.listen(address);
  }
  dial(address: Multiaddr, options: DialOptions = {}): Promise<TransportConnection> {
    const key = String(address);
    return new Promise((resolve, reject) => {
      const done = () => {
        this.waiting.delete(key);
        options.signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        done();
        reject(new DialAborted(key));
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.set(key, {
        connect: () => {
          done();
          this.inner.dial(address).then(resolve, reject);
        },
        refuse: () => {
          done();
          reject(new ConnectionRefused(key));
        },
      });
    });
  }
}

const PEERS = ['p', 'q'] as const;
type PeerName = (typeof PEERS)[number];
const identities = { p: testNode('p'), q: testNode('q') };
const keyOf = (name: PeerName) => identities[name].identity.publicKey;
const nameOf = (key: string): PeerName => (toHex(keyOf('p')) === key ? 'p' : 'q');
const fakeConnection = (publicKey: PublicKey) => ({ peer: { publicKey } }) as unknown as PeerConnection;
const error = { name: 'DialExhausted', message: 'refused', kind: 'transport' as const };

function modelEvents(state: Snap): Ev[] {
  const events: Ev[] = [];
  for (const name of PEERS) {
    const key = toHex(keyOf(name));
    const waiters = state.context.pending[key]?.length ?? 0;
    if (waiters < 2) events.push({ type: 'dial.request', requestId: `model-${name}`, publicKey: keyOf(name) });
    if (waiters > 0) {
      events.push({ type: 'dial.succeeded', key, connection: fakeConnection(keyOf(name)) });
      events.push({ type: 'dial.failed', key, publicKey: keyOf(name), error });
      events.push({ type: 'dial.cancel', publicKey: keyOf(name) });
    }
  }
  return events;
}

const waitersOf = (s: Snap) => Object.fromEntries(Object.entries(s.context.pending).map(([k, w]) => [nameOf(k), w.length]));

const paths = transitionCover<Snap, Ev>(dialerMachine, {
  input: { transports: [], upgrade: identities.p, peers: undefined as never },
  events: modelEvents,
  serializeState: (s) => JSON.stringify(waitersOf(s)),
  describe: (s) => JSON.stringify(waitersOf(s)).replace(/"/g, ''),
});

interface Sut {
  actor: DialerActor;
  transport: ControlledTransport;
  listeners: TransportListener[];
  peers: PeerManagerClient;
  addresses: Record<PeerName, string>;
  /** The replies still awaited, per peer. */
  requests: Record<PeerName, Array<Promise<PeerConnection | Error>>>;
  connections: PeerConnection[];
}

async function system(): Promise<Sut> {
  const network = new MemoryNetwork();
  const transport = new ControlledTransport(new MemoryTransport({ network }));
  const listeners: TransportListener[] = [];
  const addresses = {} as Record<PeerName, string>;
  const connections: PeerConnection[] = [];
  for (const name of PEERS) {
    const listener = await transport.listen(multiaddr('/memory/0'));
    listeners.push(listener);
    addresses[name] = String(listener.address);
    void (async () => {
      for await (const c of listener) {
        upgradeInbound(c.stream, identities[name]).then(
          (conn) => connections.push(conn as PeerConnection),
          () => c.stream.destroy(),
        );
      }
    })();
  }
  const peers = startPeerManager({ store: new MemoryPeerStore() });
  const dialer = testNode('dialer');
  const actor = startDialer({ transports: [transport], upgrade: dialer, peers, rounds: 1, attemptTimeoutMs: 10_000 }, () => {});
  return { actor, transport, listeners, peers, addresses, requests: { p: [], q: [] }, connections };
}

async function exec(sut: Sut, event: Ev): Promise<void> {
  switch (event.type) {
    case 'dial.request': {
      const name = nameOf(toHex(event.publicKey));
      const before = sut.actor.getSnapshot().context.pending[toHex(event.publicKey)]?.length ?? 0;
      sut.requests[name].push(dial(sut.actor, event.publicKey, { addresses: [sut.addresses[name]], timeoutMs: 10_000 }).catch((e: Error) => e));
      await until('request registered', () => (sut.actor.getSnapshot().context.pending[toHex(event.publicKey)]?.length ?? 0) === before + 1);
      if (before === 0) await until('dial reaches the transport', () => sut.transport.waiting.has(sut.addresses[name]));
      return;
    }
    case 'dial.succeeded': {
      const name = nameOf(event.key);
      sut.transport.waiting.get(sut.addresses[name])!.connect();
      const replies = await Promise.all(sut.requests[name].splice(0));
      for (const r of replies) {
        expect(r).to.not.be.instanceOf(Error);
        expect(toHex((r as PeerConnection).peer.publicKey)).to.equal(event.key);
      }
      return;
    }
    case 'dial.failed': {
      const name = nameOf(event.key);
      sut.transport.waiting.get(sut.addresses[name])!.refuse();
      const replies = await Promise.all(sut.requests[name].splice(0));
      for (const r of replies) {
        expect(r).to.be.instanceOf(DialRequestFailed);
        expect((r as DialRequestFailed).error.name).to.equal('DialExhausted');
      }
      return;
    }
    case 'dial.cancel': {
      const name = nameOf(toHex(event.publicKey));
      sut.actor.send({ type: 'dial.cancel', publicKey: event.publicKey });
      const replies = await Promise.all(sut.requests[name].splice(0));
      for (const r of replies) expect((r as DialRequestFailed).error?.kind).to.equal('aborted');
      await until('the transport dial was aborted', () => !sut.transport.waiting.has(sut.addresses[name]));
      return;
    }
  }
}

describe('dialer machine, model-based (paths from its graph drive the real dialer)', function () {
  this.timeout(60_000);

  it('the paths take every transition: joins, successes, failures and cancels for two peers', () => {
    const taken = new Set(paths.flatMap((p) => p.steps.map((s) => s.event.type)));
    for (const t of ['dial.request', 'dial.succeeded', 'dial.failed', 'dial.cancel']) expect(taken).to.include(t);
    expect(paths.some((p) => p.name.includes('{p:2,q:2}'))).to.equal(true);
    expect(paths.length).to.be.at.least(40);
  });

  for (const path of paths) {
    it(path.name, async () => {
      const sut = await system();
      try {
        await runPath(
          path,
          (event) => exec(sut, event),
          (expected) => {
            expect(waitersOf(sut.actor.getSnapshot())).to.deep.equal(waitersOf(expected));
          },
        );
      } finally {
        sut.actor.stop();
        for (const w of sut.transport.waiting.values()) w.refuse();
        await Promise.all(sut.connections.map((c) => c.close()));
        await Promise.all(sut.listeners.map((l) => l.close()));
        await sut.peers.stop();
      }
    });
  }
});
