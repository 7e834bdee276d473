/**
 * Model-based test (@xstate/graph) of the listener (`actors/listener`): opening, listening,
 * stopping, stopped, failed. One path per transition drives the real listener
 * (`listenerLogic`: its real opening, accept loop and upgrades, closing) over the memory
 * transport, behind a transport that holds each listen and each close until the step says:
 * a listen goes through, or fails because the address is taken by another listener (a real
 * `ListenFailed`); a close completes, or completes and reports an error. While listening, real
 * sockets arrive: a dialer that upgrades (`upgradeOutbound`), a garbage wire byte, a silent
 * socket (a short `timeToFirstByteMs`), a peer the node bans (`isBanned`), and one socket
 * beyond `maxConcurrentUpgrades` (two sockets hold the slots in the Noise handshake). While
 * stopping, a socket that arrives is dropped and reported to nobody.
 *
 * After every step: the listener is where the model is, its owner heard what the model says
 * (`listener.listening` with the bound address, or `listener.failed` with the error), the
 * stand-in connection manager was handed exactly the connections and rejections (with their
 * reasons) the steps made, and the transport listener is bound or closed as the state says.
 */
import { once } from 'node:events';
import { expect } from 'chai';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import type { EventFromLogic, SnapshotFrom } from 'xstate';
import { toHex } from '../../core/bytes.js';
import type { PublicKey } from '../../core/keys.js';
import { upgradeOutbound, type PeerConnection } from '../../channels/upgrade.js';
import type { ConnectionManagerInbox } from '../../actors/connection-manager/index.js';
import { listenerLogic, listenerMachine, type ListenerReport } from '../../actors/listener/index.js';
import { MemoryNetwork, MemoryTransport } from '../../transports/memory/memory.js';
import type { DialOptions, Transport, TransportConnection, TransportListener } from '../../transports/transport.js';
import { recorder, testSystem } from '../support/actors.js';
import { runPath, transitionCover, type ModelPath } from '../support/model.js';
import { testNode } from '../support/nodes.js';
import { until } from '../support/wait.js';
import { pathTitle } from '../support/world-model.js';

type Snap = SnapshotFrom<typeof listenerMachine>;
type Ev = EventFromLogic<typeof listenerMachine>;

const ADDRESS = '/memory/7';
const OPENED = 'xstate.done.actor.openListeners';
const OPEN_FAILED = 'xstate.error.actor.openListeners';
const CLOSED = 'xstate.done.actor.closeListeners';
const CLOSE_FAILED = 'xstate.error.actor.closeListeners';
/** The model's stand-ins (nothing runs during traversal). */
const modelListener = { address: multiaddr(ADDRESS) } as unknown as TransportListener;
const modelConnection = {} as PeerConnection;
/** The rejections a step can make, by what arrives. */
const REJECTIONS = {
  garbage: { reason: 'upgrade-failed', error: 'WrongNetworkByte' },
  silent: { reason: 'upgrade-failed', error: 'TimeToFirstByteExceeded' },
  banned: { reason: 'banned', error: undefined },
  busy: { reason: 'busy', error: undefined },
} as const;
type Arrival = keyof typeof REJECTIONS;
/** The model's `inbound.rejected` names what arrived (the machine reads only the reason). */
type Rejected = Extract<Ev, { type: 'inbound.rejected' }> & { arrival: Arrival };
/** A socket that arrives while stopping (the machine takes no such event: it is dropped before). */
const LATE_DIAL = 'test.dial-while-stopping';

function modelEvents(s: Snap): Ev[] {
  if (s.status === 'done') return [];
  const events: Ev[] = [{ type: 'listener.stop' }];
  if (s.matches('opening')) {
    events.push({ type: OPENED, output: [modelListener], actorId: 'openListeners' } as unknown as Ev);
    events.push({ type: OPEN_FAILED, error: new Error('model'), actorId: 'openListeners' } as unknown as Ev);
  }
  if (s.matches('listening')) {
    events.push({ type: 'inbound.upgraded', connection: modelConnection });
    for (const arrival of Object.keys(REJECTIONS) as Arrival[]) events.push({ type: 'inbound.rejected', reason: REJECTIONS[arrival].reason, remoteAddress: undefined, arrival } as Rejected);
  }
  if (s.matches('stopping')) {
    events.push({ type: CLOSED, output: undefined, actorId: 'closeListeners' } as unknown as Ev);
    events.push({ type: CLOSE_FAILED, error: new Error('model'), actorId: 'closeListeners' } as unknown as Ev);
    events.push({ type: LATE_DIAL } as unknown as Ev);
  }
  return events;
}

function label(e: Ev): string {
  switch (e.type as string) {
    case OPENED:
      return 'listen ok';
    case OPEN_FAILED:
      return 'listen fails (address taken)';
    case CLOSED:
      return 'closed';
    case CLOSE_FAILED:
      return 'close fails';
    case LATE_DIAL:
      return 'a socket while stopping';
    case 'inbound.upgraded':
      return 'a peer upgrades';
    case 'inbound.rejected':
      return `rejected (${(e as Rejected).arrival})`;
    default:
      return e.type;
  }
}

const valueOf = (s: Snap) => String(s.value);

const paths: Array<ModelPath<Snap, Ev>> = transitionCover<Snap, Ev>(listenerMachine, {
  input: { endpoints: [], upgrade: testNode('model') },
  events: modelEvents,
  serializeState: (s) => JSON.stringify({ value: s.value, status: s.status }),
  describe: valueOf,
});

/** A transport whose listens and listener closes wait for the test's word. */
class HeldTransport implements Transport {
  readonly name = 'memory';
  /** The listen waiting for the step (it fails if the step took the address first). */
  listen_: (() => void) | undefined;
  /** Listens that completed (bound the address). */
  bound = 0;
  close_: { ok(): void; fail(): void } | undefined;
  /** Hold closes (set while listening: the stopping state waits for them). */
  holdCloses = false;
  constructor(readonly inner: MemoryTransport) {}
  canDial(address: Multiaddr): boolean {
    return this.inner.canDial(address);
  }
  dial(address: Multiaddr, options?: DialOptions): Promise<TransportConnection> {
    return this.inner.dial(address, options);
  }
  listen(address: Multiaddr): Promise<TransportListener> {
    return new Promise((resolve, reject) => {
      this.listen_ = () => {
        this.listen_ = undefined;
        this.inner.listen(address).then((l) => {
          this.bound++;
          resolve(this.#held(l));
        }, reject);
      };
    });
  }
  #held(inner: TransportListener): TransportListener {
    return {
      address: inner.address,
      get dropped() {
        return inner.dropped;
      },
      close: () => {
        if (!this.holdCloses) return inner.close();
        return new Promise<void>((resolve, reject) => {
          this.close_ = {
            ok: () => void inner.close().then(resolve, reject),
            fail: () => void inner.close().then(() => reject(new Error('the listener reported an error as it closed')), reject),
          };
        });
      },
      [Symbol.asyncIterator]: () => inner[Symbol.asyncIterator](),
    };
  }
}

/** What the real system must show after a step. */
interface Ledger {
  reports: string[];
  handed: string[];
}

function system() {
  const network = new MemoryNetwork();
  const memory = new MemoryTransport({ network });
  const transport = new HeldTransport(memory);
  const node = testNode('listener', { timeToFirstByteMs: 100 });
  const banned = new Set<string>();
  const cm = recorder<ConnectionManagerInbox>();
  const owner = recorder<ListenerReport>();
  const s = testSystem({
    connectionManager: { logic: cm.logic },
    owner: { logic: owner.logic },
    listener: {
      logic: listenerLogic,
      inputFrom: (get) => ({
        endpoints: [{ transport, address: multiaddr(ADDRESS) }],
        upgrade: node,
        maxConcurrentUpgrades: 2,
        isBanned: (pk: PublicKey) => banned.has(toHex(pk)),
        owner: get('owner'),
      }),
    },
  });
  const dialers = new Map<string, string>();
  const cleanups: Array<() => void> = [];
  return {
    network,
    memory,
    transport,
    node,
    banned,
    cm,
    owner,
    dialers,
    cleanups,
    listener: s.get('listener'),
    crashes: s.crashes,
    /** What the connection manager was handed, in words. */
    handed(): string[] {
      return cm.seen.map((e) => {
        if (e.type === 'connection.opened') return `opened ${dialers.get(toHex(e.connection.peer.publicKey)) ?? '?'}`;
        if (e.type === 'inbound.rejected') return `rejected ${e.reason}${e.error ? ` ${e.error.name}` : ''}`;
        return e.type;
      });
    },
    /** A raw socket to the listener. */
    async socket(): Promise<TransportConnection> {
      const c = await memory.dial(multiaddr(ADDRESS));
      c.stream.on('error', () => {});
      cleanups.push(() => c.stream.destroy());
      return c;
    },
    close(): void {
      s.stop();
      transport.listen_?.();
      transport.close_?.ok();
      for (const c of cleanups) c();
    },
  };
}
type Sut = ReturnType<typeof system>;

async function exec(sut: Sut, event: Ev, before: Snap, after: Snap, ledger: Ledger, step: number): Promise<void> {
  const reached = () => until(`the listener reaches ${valueOf(after)}`, () => valueOf(sut.listener.getSnapshot()) === valueOf(after));
  const handedAll = () => until('the connection manager was handed everything', () => sut.handed().length >= ledger.handed.length);
  switch (label(event)) {
    case 'listen ok':
      await until('the listen is held', () => sut.transport.listen_ !== undefined);
      sut.transport.listen_!();
      ledger.reports.push(`listening ${ADDRESS}`);
      await reached();
      sut.transport.holdCloses = true;
      return;
    case 'listen fails (address taken)': {
      await until('the listen is held', () => sut.transport.listen_ !== undefined);
      const taken = await sut.memory.listen(multiaddr(ADDRESS));
      sut.cleanups.push(() => void taken.close());
      // A real failure: another listener took the address first.
      sut.transport.listen_!();
      ledger.reports.push('failed ListenFailed');
      return reached();
    }
    case 'listener.stop':
      sut.listener.send({ type: 'listener.stop' });
      await reached();
      if (before.matches('opening')) {
        // The listen still under way completes after the stop: what it opened is closed at once.
        await until('the listen is held', () => sut.transport.listen_ !== undefined);
        sut.transport.listen_!();
        await until('the listen completed', () => sut.transport.bound === 1);
        await until('the listener it opened was closed', () => sut.network.size === 0);
      }
      return;
    case 'closed':
      sut.transport.close_!.ok();
      return reached();
    case 'close fails':
      sut.transport.close_!.fail();
      return reached();
    case 'a peer upgrades': {
      const dialer = testNode(`dialer${step}`);
      sut.dialers.set(toHex(dialer.identity.publicKey), `dialer${step}`);
      const c = await sut.socket();
      const connection = await upgradeOutbound(c.stream, dialer, { dialedPublicKey: sut.node.identity.publicKey });
      sut.cleanups.push(() => connection.muxer.abort());
      ledger.handed.push(`opened dialer${step}`);
      return handedAll();
    }
    case 'rejected (garbage)': {
      const c = await sut.socket();
      c.stream.write(Buffer.of(0x55));
      ledger.handed.push(`rejected upgrade-failed ${REJECTIONS.garbage.error}`);
      return handedAll();
    }
    case 'rejected (silent)':
      await sut.socket();
      ledger.handed.push(`rejected upgrade-failed ${REJECTIONS.silent.error}`);
      return handedAll();
    case 'rejected (banned)': {
      const dialer = testNode(`banned${step}`);
      sut.banned.add(toHex(dialer.identity.publicKey));
      const c = await sut.socket();
      // (the dialer's upgrade may complete before the listener hangs up: either way it is refused)
      const connection = await upgradeOutbound(c.stream, dialer, { dialedPublicKey: sut.node.identity.publicKey }).catch(() => undefined);
      if (connection) sut.cleanups.push(() => connection.muxer.abort());
      ledger.handed.push('rejected banned');
      await handedAll();
      if (connection) await until('the banned peer was hung up on', () => connection.muxer.closed);
      return;
    }
    case 'rejected (busy)': {
      // Two sockets send the wire byte and a valid XX message 1 and stay silent in the Noise
      // handshake: both upgrade slots are taken. A third does the same: the oldest upgrade is
      // shed to make room (reported busy), and the newcomer takes its slot.
      const message1 = () => Buffer.concat([Buffer.of(0x00, 0x00, 0x20), Buffer.alloc(32, 9)]);
      const holders = [await sut.socket(), await sut.socket()];
      for (const h of holders) {
        const answered = once(h.stream, 'data'); // message 2: it holds a slot
        h.stream.write(message1());
        await answered;
      }
      const third = await sut.socket();
      third.stream.write(message1());
      ledger.handed.push('rejected busy UpgradeShed');
      await handedAll();
      await until('the oldest holder was shed', () => holders[0]!.stream.destroyed);
      // The others hang up: their upgrades fail, and the slots come back.
      for (const h of [holders[1]!, third]) h.stream.destroy();
      ledger.handed.push('rejected upgrade-failed', 'rejected upgrade-failed');
      await handedAll();
      return;
    }
    case 'a socket while stopping': {
      const c = await sut.socket();
      await until('the socket was dropped', () => c.stream.destroyed);
      return;
    }
    default:
      throw new Error(`no executor for ${label(event)}`);
  }
}

async function check(sut: Sut, expected: Snap, ledger: Ledger): Promise<void> {
  const real = sut.listener.getSnapshot();
  expect(valueOf(real)).to.equal(valueOf(expected));
  expect(real.status).to.equal(expected.status);
  expect(
    sut.owner.seen.map((e) => (e.type === 'listener.listening' ? `listening ${e.addresses.map(String).join(' ')}` : `failed ${e.error.name}`)),
    'reports to the owner',
  ).to.deep.equal(ledger.reports);
  // (the holders' rejections carry whatever error the handshake met: only their reason is the model's)
  const handed = sut.handed().map((h, i) => (ledger.handed[i] === 'rejected upgrade-failed' ? h.replace(/^(rejected upgrade-failed) .*/, '$1') : h));
  expect(handed, 'what the connection manager was handed').to.deep.equal(ledger.handed);
  // Bound while opened and not yet closed; nothing bound after a failure, or once stopped (the taken address aside).
  if (expected.matches('listening') || expected.matches('stopping')) expect(sut.network.lookup(7), 'the transport listener').to.not.equal(undefined);
  if (expected.matches('stopped')) await until('the transport listener is closed', () => sut.network.size === 0);
  if (expected.matches('failed')) expect(sut.network.size, 'only the listener that took the address').to.equal(1);
  expect(sut.crashes).to.deep.equal([]);
}

describe('listener machine, model-based (paths from its graph drive a real listener over the memory transport)', function () {
  this.timeout(30_000);

  it('the paths take every transition: listen ok or failing, upgraded and rejected sockets (garbage, silent, banned, busy), stop in every state, close ok or failing', () => {
    const edges = new Set(paths.flatMap((p) => p.steps.slice(1).map((s, i) => `${valueOf(p.steps[i]!.state)}|${label(s.event)}|${valueOf(s.state)}`)));
    for (const e of [
      'opening|listen ok|listening',
      'opening|listen fails (address taken)|failed',
      'opening|listener.stop|stopped',
      'listening|a peer upgrades|listening',
      'listening|rejected (garbage)|listening',
      'listening|rejected (silent)|listening',
      'listening|rejected (banned)|listening',
      'listening|rejected (busy)|listening',
      'listening|listener.stop|stopping',
      'stopping|closed|stopped',
      'stopping|close fails|stopped',
      'stopping|listener.stop|stopping',
      'stopping|a socket while stopping|stopping',
    ])
      expect(edges).to.include(e);
    expect(paths.length).to.equal(13);
  });

  for (const path of paths) {
    it(pathTitle(path, label, valueOf), async () => {
      const sut = system();
      const ledger: Ledger = { reports: [], handed: [] };
      let step = 0;
      try {
        await runPath(
          path,
          async (event) => {
            const i = ++step;
            await exec(sut, event, path.steps[i - 1]!.state, path.steps[i]!.state, ledger, i);
          },
          (expected) => check(sut, expected, ledger),
        );
      } finally {
        sut.close();
      }
    });
  }
});
