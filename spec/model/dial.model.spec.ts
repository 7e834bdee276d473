/**
 * Model-based test (@xstate/graph) of one dial (`actors/dial`): two rounds over two stored
 * addresses, with backoff between rounds. One path per transition of the graph drives a real
 * dial actor, in a system with a real peer manager and a transport whose dials wait for the
 * step's word (they connect to a real listening peer, which upgrades them, or are refused). The
 * peer manager's answer to the address lookup is held until the step lets it through (with the
 * stored addresses, or none). Timers run on a SimulatedClock. After every step the real dial
 * must be where the model is, and the outcome it reported and the stats it wrote must match.
 */
import { expect } from 'chai';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { fromCallback, SimulatedClock, type EventFromLogic, type SnapshotFrom } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { NodeIdentity } from '../../core/keys.js';
import { upgradeInbound, type PeerConnection } from '../../channels/upgrade.js';
import { dialLogic, dialMachine, DEFAULT_DIAL_CONFIG, type DialReport } from '../../actors/dial/index.js';
import { PeerManagerClient, peerManagerLogic, type PeerManagerInbox } from '../../actors/peer-manager/index.js';
import { MemoryPeerStore } from '../../storage/memory-store.js';
import { ConnectionRefused, DialAborted } from '../../transports/errors.js';
import { MemoryNetwork, MemoryTransport } from '../../transports/memory/memory.js';
import type { DialOptions, Transport, TransportConnection, TransportListener } from '../../transports/transport.js';
import { recorder, startActor, testSystem } from '../support/actors.js';
import { testNode } from '../support/nodes.js';
import { runPath, transitionCover } from '../support/model.js';
import { until } from '../support/wait.js';

type Snap = SnapshotFrom<typeof dialMachine>;
type Ev = EventFromLogic<typeof dialMachine>;

const ROUNDS = 2;
const BACKOFF = 100;
const BACKOFF_TICK = 'xstate.after.backoff.dial.backingOff';
const LOOKUP_TICK = 'xstate.after.lookupTimeout.dial.resolving';

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

const peer = testNode('peer');
const dialer = testNode('dialer');
/** Addresses of the model (the real ones are bound at run time; only their number matters). */
const MODEL_PEER = { publicKey: peer.identity.publicKey, addresses: [{ address: '/memory/1' }, { address: '/memory/2' }] };
const fakeConnection = { peer: { publicKey: peer.identity.publicKey } } as unknown as PeerConnection;

function modelEvents(state: Snap): Ev[] {
  if (state.status === 'done') return [];
  const events: Ev[] = [{ type: 'dial.cancel' }];
  const requestId = `dial-lookup:${toHex(peer.identity.publicKey)}:${state.context.round}`;
  if (state.matches('resolving')) {
    events.push({ type: 'peer-manager.reply', requestId, ok: true, result: MODEL_PEER as never });
    events.push({ type: 'peer-manager.reply', requestId, ok: true, result: undefined });
    events.push({ type: LOOKUP_TICK } as unknown as Ev);
  }
  if (state.matches('attempting')) {
    events.push({ type: 'xstate.done.actor.attempt', output: fakeConnection, actorId: 'attempt' } as unknown as Ev);
    events.push({ type: 'xstate.error.actor.attempt', error: new ConnectionRefused('model'), actorId: 'attempt' } as unknown as Ev);
  }
  if (state.matches('backingOff')) events.push({ type: BACKOFF_TICK } as unknown as Ev);
  return events;
}

const canonical = (s: Snap) => ({ value: s.value, round: s.context.round, index: s.context.index, failures: s.context.failures.length });

/** The events that end an attempt (the model's stand-ins for the attempt actor's outcome). */
const OUTCOMES: ReadonlySet<string> = new Set(['xstate.done.actor.attempt', 'xstate.error.actor.attempt']);

const paths = transitionCover<Snap, Ev>(dialMachine, {
  input: { publicKey: peer.identity.publicKey, key: toHex(peer.identity.publicKey), addresses: undefined, transports: [], upgrade: dialer, rounds: ROUNDS, backoffMs: BACKOFF, owner: { send: () => {} } as never },
  events: modelEvents,
  serializeState: (s) => JSON.stringify(canonical(s)),
  describe: (s) => `${JSON.stringify(s.value).replace(/"/g, '')}(round ${s.context.round}, address ${s.context.index + 1})`,
});

/** The real system: a dial, a real peer manager behind a gate that holds its lookups, two listening peers. */
async function system() {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork();
  const transport = new ControlledTransport(new MemoryTransport({ network }));
  const listeners: TransportListener[] = [];
  const connections: PeerConnection[] = [];
  for (let i = 0; i < 2; i++) {
    const listener = await transport.listen(multiaddr('/memory/0'));
    listeners.push(listener);
    void (async () => {
      for await (const c of listener) upgradeInbound(c.stream, peer).then((conn) => void connections.push(conn as PeerConnection), () => c.stream.destroy());
    })();
  }
  const addresses = listeners.map((l) => String(l.address));
  const store = new MemoryPeerStore();
  const pm = startActor(peerManagerLogic, { input: { store } });
  const peers = new PeerManagerClient(pm);
  await peers.add({ publicKey: peer.identity.publicKey, nodeId: peer.identity.nodeId, addresses: addresses.map((address) => ({ address, source: 'config' as const })) });
  // The gate: lookups wait for the step; everything else goes through at once.
  const held: Array<Extract<PeerManagerInbox, { type: 'peer.find' }>> = [];
  const gate = fromCallback<PeerManagerInbox>(({ receive }) => receive((e) => (e.type === 'peer.find' ? void held.push(e) : pm.send(e))));
  const owner = recorder<DialReport>();
  const s = testSystem(
    {
      peerManager: { logic: gate },
      owner: { logic: owner.logic },
      dial: {
        logic: dialLogic,
        inputFrom: (get) => ({ publicKey: peer.identity.publicKey, key: toHex(peer.identity.publicKey), addresses: undefined, transports: [transport], upgrade: dialer, rounds: ROUNDS, backoffMs: BACKOFF, attemptTimeoutMs: 60_000, owner: get('owner') }),
      },
    },
    { clock },
  );
  const dial = s.get('dial');
  const release = (withAddresses: boolean) => {
    const find = held.shift()!;
    // "No address": the real peer manager is asked about a key it does not know.
    pm.send(withAddresses ? find : { ...find, publicKey: NodeIdentity.generate().publicKey });
  };
  const attempts = async () => (await peers.find({ publicKey: peer.identity.publicKey }))!.addresses.reduce((n, a) => n + a.attempts, 0);
  const close = async () => {
    s.stop();
    for (const w of transport.waiting.values()) w.refuse();
    await Promise.all(connections.map((c) => c.close()));
    await Promise.all(listeners.map((l) => l.close()));
    await peers.stop();
  };
  return { clock, transport, dial, held, release, owner, attempts, close, crashes: s.crashes };
}
type Sut = Awaited<ReturnType<typeof system>>;

const currentAddress = (sut: Sut) => {
  const c = sut.dial.getSnapshot().context;
  return c.addresses[c.index]!;
};

async function exec(sut: Sut, event: Ev, expected: Snap): Promise<void> {
  const reached = () => until(`the dial reaches ${JSON.stringify(expected.value)}`, () => JSON.stringify(sut.dial.getSnapshot().value) === JSON.stringify(expected.value) && sut.dial.getSnapshot().context.index === expected.context.index);
  switch (event.type as string) {
    case 'peer-manager.reply': {
      await until('a lookup is held', () => sut.held.length === 1);
      const withAddresses = (event as Extract<Ev, { type: 'peer-manager.reply' }> & { ok: true }).result !== undefined;
      sut.release(withAddresses);
      if (expected.matches('attempting')) await until('the attempt reaches the transport', () => sut.transport.waiting.has(currentAddress(sut)));
      return reached();
    }
    case LOOKUP_TICK:
      await until('a lookup is held', () => sut.held.length === 1);
      sut.clock.increment(DEFAULT_DIAL_CONFIG.lookupTimeoutMs);
      sut.held.length = 0; // the answer would come too late
      return reached();
    case 'xstate.done.actor.attempt':
      await until('the attempt reaches the transport', () => sut.transport.waiting.has(currentAddress(sut)));
      sut.transport.waiting.get(currentAddress(sut))!.connect();
      return reached();
    case 'xstate.error.actor.attempt': {
      await until('the attempt reaches the transport', () => sut.transport.waiting.has(currentAddress(sut)));
      sut.transport.waiting.get(currentAddress(sut))!.refuse();
      await reached();
      if (expected.matches('attempting')) await until('the next attempt reaches the transport', () => sut.transport.waiting.has(currentAddress(sut)));
      return;
    }
    case BACKOFF_TICK:
      sut.clock.increment(BACKOFF * 2 ** (sut.dial.getSnapshot().context.round - 1));
      return reached();
    case 'dial.cancel': {
      const attempting = sut.dial.getSnapshot().matches('attempting') ? currentAddress(sut) : undefined;
      sut.dial.send({ type: 'dial.cancel' });
      await reached();
      if (attempting) await until('the transport dial was aborted', () => !sut.transport.waiting.has(attempting));
      return;
    }
  }
}

/** The real dial is where the model is, and has told its owner what the model's final state says. */
async function check(sut: Sut, expected: Snap, attemptsSoFar: number): Promise<void> {
  const real = sut.dial.getSnapshot();
  expect(canonical(real)).to.deep.equal(canonical(expected));
  const reports = sut.owner.seen.map((e) => e.type);
  if (expected.matches('succeeded')) expect(reports).to.deep.equal(['dial.succeeded']);
  else if (expected.matches('failed')) expect(reports).to.deep.equal(['dial.failed']);
  else expect(reports).to.deep.equal([]);
  // Every attempt made so far was written to the peer manager's store.
  const deadline = Date.now() + 5_000;
  while ((await sut.attempts()) !== attemptsSoFar && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  expect(await sut.attempts()).to.equal(attemptsSoFar);
  expect(sut.crashes).to.deep.equal([]);
}

describe('dial machine, model-based (paths from its graph drive a real dial)', function () {
  this.timeout(60_000);

  it('the paths take every transition: lookups with and without addresses, timeouts, attempts that connect or fail over two addresses and two rounds, backoff, cancel', () => {
    const taken = new Set(paths.flatMap((p) => p.steps.map((s) => s.event.type)));
    for (const t of ['peer-manager.reply', LOOKUP_TICK, 'xstate.done.actor.attempt', 'xstate.error.actor.attempt', BACKOFF_TICK, 'dial.cancel']) expect(taken).to.include(t);
    // The second round's second address was reached, and failed for good.
    expect(paths.some((p) => p.steps.at(-1)!.state.matches('failed') && p.steps.at(-1)!.state.context.round === ROUNDS && p.steps.at(-1)!.state.context.failures.length === 4)).to.equal(true);
    expect(paths.length).to.be.at.least(20);
  });

  for (const path of paths) {
    it(path.name, async () => {
      const sut = await system();
      let attempts = 0;
      try {
        await runPath(
          path,
          async (event, expected) => {
            await exec(sut, event, expected);
          },
          async (expected) => {
            // An attempt is counted with its outcome (one write per attempt); a cancelled one is not.
            attempts = path.steps
              .slice(0, path.steps.findIndex((s) => s.state === expected) + 1)
              .filter((s) => OUTCOMES.has(s.event.type)).length;
            await check(sut, expected, attempts);
          },
        );
      } finally {
        await sut.close();
      }
    });
  }
});
