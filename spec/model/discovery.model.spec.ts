/**
 * Model-based test (@xstate/graph) of one discovery (`actors/discovery`, PROTOCOL.md 9.5). One
 * path per transition of the graph drives a real discovery actor in a system with a real peer
 * manager (its answer to storing the claim held until the step lets it through) and an owner
 * that records the report. Sending the DISCOVERY is an effect whose promise the step settles;
 * responses carry a real checked claim; timers run on a SimulatedClock. After every step the
 * real discovery must be where the model is, and at its end it must have reported what the
 * model's final state says (and stored the claim when it went through storing).
 */
import { expect } from 'chai';
import { fromCallback, SimulatedClock, type EventFromLogic, type SnapshotFrom } from 'xstate';
import { addressToBytes, parseAddress } from '../../core/address.js';
import { toHex } from '../../core/bytes.js';
import { NodeIdentity } from '../../core/keys.js';
import { checkPeerClaim, createPeerClaim, type ValidatedClaim } from '../../protocols/dht/index.js';
import { DEFAULT_DISCOVERY_CONFIG, discoveryLogic, discoveryMachine, type DiscoveryInput, type DiscoveryReport } from '../../actors/discovery/index.js';
import { PeerManagerClient, peerManagerLogic, type PeerManagerInbox } from '../../actors/peer-manager/index.js';
import { MemoryPeerStore } from '../../storage/memory-store.js';
import { recorder, startActor, testSystem } from '../support/actors.js';
import { runPath, transitionCover } from '../support/model.js';
import { until } from '../support/wait.js';

type Snap = SnapshotFrom<typeof discoveryMachine>;
type Ev = EventFromLogic<typeof discoveryMachine>;

const NONCE = 42n;
const TIMEOUT = 60_000;
const TIMEOUT_TICK = 'xstate.after.discoveryTimeout.discovery.active';
const STORE_TICK = 'xstate.after.storeTimeout.discovery.storing';
const target = NodeIdentity.generate();
const now = BigInt(Math.floor(Date.now() / 1000));

function checkedClaim(address: string): { claim: ValidatedClaim; ignored: boolean } {
  const check = checkPeerClaim(createPeerClaim(target, { addresses: [addressToBytes(parseAddress(address, { allowMemory: true }))], features: 1, userAgent: 'target', updatedAt: now }), { nowSeconds: now });
  if (!check.ok) throw new Error(check.detail);
  return { claim: check.claim, ignored: check.ignored };
}
const stored = checkedClaim('/ip4/10.0.0.9/tcp/18141');
const ignored = checkedClaim('/memory/9'); // valid, but this node takes no /memory addresses

function modelEvents(state: Snap): Ev[] {
  if (state.status === 'done') return [];
  const events: Ev[] = [{ type: 'discovery.cancel' }];
  if (state.matches('active')) {
    events.push({ type: 'discovery.response', claim: stored.claim, nonce: NONCE, ignored: false });
    events.push({ type: 'discovery.response', claim: ignored.claim, nonce: NONCE, ignored: true });
    events.push({ type: 'discovery.response', claim: stored.claim, nonce: NONCE + 1n, ignored: false });
    events.push({ type: TIMEOUT_TICK } as unknown as Ev);
  }
  if (state.matches({ active: 'requesting' })) {
    events.push({ type: 'xstate.done.actor.sendDiscovery', output: 3, actorId: 'sendDiscovery' } as unknown as Ev);
    events.push({ type: 'xstate.error.actor.sendDiscovery', error: new Error('NoPeers'), actorId: 'sendDiscovery' } as unknown as Ev);
  }
  if (state.matches('storing')) {
    events.push({ type: 'peer-manager.reply', requestId: `discovery-store:${toHex(target.publicKey)}`, ok: true, result: undefined });
    events.push({ type: STORE_TICK } as unknown as Ev);
  }
  return events;
}

/** The model's own input: nothing in it runs during traversal. */
const modelInput: DiscoveryInput = { key: toHex(target.publicKey), target: target.publicKey, nonce: NONCE, timeoutMs: TIMEOUT, effects: { sendDiscovery: () => Promise.resolve(1) }, owner: { send: () => {} } as never };

const paths = transitionCover<Snap, Ev>(discoveryMachine, {
  input: modelInput,
  events: modelEvents,
  serializeState: (s) => JSON.stringify(s.value),
  serializeEvent: (e) => (e.type === 'discovery.response' ? `${e.type}:${e.nonce}:${e.ignored}` : e.type),
  describe: (s) => JSON.stringify(s.value).replace(/"/g, ''),
});

/** The real system: a discovery, a real peer manager behind a gate that holds the claim's storing, an owner. */
function system() {
  const clock = new SimulatedClock();
  const pm = startActor(peerManagerLogic, { input: { store: new MemoryPeerStore() } });
  const peers = new PeerManagerClient(pm);
  const held: Array<Extract<PeerManagerInbox, { type: 'peer.add' }>> = [];
  const gate = fromCallback<PeerManagerInbox>(({ receive }) => receive((e) => (e.type === 'peer.add' ? void held.push(e) : pm.send(e))));
  let sending: { resolve(n: number): void; reject(e: Error): void } | undefined;
  let sends = 0;
  const owner = recorder<DiscoveryReport>();
  const s = testSystem(
    {
      peerManager: { logic: gate },
      owner: { logic: owner.logic },
      discovery: {
        logic: discoveryLogic,
        inputFrom: (get) => ({
          ...modelInput,
          owner: get('owner'),
          effects: {
            sendDiscovery: () => {
              sends++;
              return new Promise<number>((resolve, reject) => (sending = { resolve, reject }));
            },
          },
        }),
      },
    },
    { clock },
  );
  const discovery = s.get('discovery');
  const close = async () => {
    s.stop();
    await peers.stop();
  };
  return { clock, discovery, held, pm, peers, owner, sending: () => sending, sends: () => sends, close, crashes: s.crashes };
}
type Sut = ReturnType<typeof system>;

async function exec(sut: Sut, event: Ev, expected: Snap): Promise<void> {
  const reached = () => until(`the discovery reaches ${JSON.stringify(expected.value)}`, () => JSON.stringify(sut.discovery.getSnapshot().value) === JSON.stringify(expected.value));
  switch (event.type as string) {
    case 'xstate.done.actor.sendDiscovery':
      await until('the DISCOVERY is being sent', () => sut.sending() !== undefined);
      sut.sending()!.resolve(3);
      return reached();
    case 'xstate.error.actor.sendDiscovery':
      await until('the DISCOVERY is being sent', () => sut.sending() !== undefined);
      sut.sending()!.reject(Object.assign(new Error('the broadcast strategy selected no peer'), { name: 'NoPeers' }));
      return reached();
    case TIMEOUT_TICK:
      sut.clock.increment(TIMEOUT);
      return reached();
    case 'peer-manager.reply':
      await until('the claim is held on its way to the peer manager', () => sut.held.length === 1);
      sut.pm.send(sut.held.shift()!);
      return reached();
    case STORE_TICK:
      await until('the claim is held on its way to the peer manager', () => sut.held.length === 1);
      sut.held.length = 0; // the answer would come too late
      sut.clock.increment(DEFAULT_DISCOVERY_CONFIG.storeTimeoutMs);
      return reached();
    default:
      sut.discovery.send(event as Exclude<Ev, { type: `xstate.${string}` }>);
      return reached();
  }
}

/** The real discovery is where the model is, and has reported (and stored) what the model's state says. */
async function check(sut: Sut, expected: Snap, storedThrough: boolean): Promise<void> {
  expect(JSON.stringify(sut.discovery.getSnapshot().value)).to.equal(JSON.stringify(expected.value));
  expect(sut.sends()).to.equal(1);
  const reports = sut.owner.seen;
  if (expected.status !== 'done') {
    expect(reports).to.deep.equal([]);
    return;
  }
  expect(reports).to.have.length(1);
  const outcome = reports[0]!.outcome;
  expect(reports[0]!.key).to.equal(toHex(target.publicKey));
  if (expected.matches('found')) {
    expect(outcome.ok).to.equal(true);
    if (outcome.ok) expect(toHex(outcome.peer.publicKey)).to.equal(toHex(target.publicKey));
  } else {
    expect(outcome.ok).to.equal(false);
    const name = !outcome.ok && outcome.error.name;
    expect(name).to.equal(expected.matches('failed') ? 'NoPeers' : expected.matches('timedOut') ? 'DiscoveryTimeout' : 'DiscoveryCancelled');
  }
  // A claim that went through storing (and was let through) is in the store, with its addresses.
  const peer = await sut.peers.find({ publicKey: target.publicKey });
  expect(peer?.addresses.map((a) => a.address) ?? [], 'stored').to.deep.equal(storedThrough ? ['/ip4/10.0.0.9/tcp/18141'] : []);
  expect(sut.crashes).to.deep.equal([]);
}

describe('discovery machine, model-based (paths from its graph drive a real discovery)', function () {
  this.timeout(60_000);

  it('the paths take every transition: sent or not, matching, ignored and foreign responses, the timeout, storing answered or timed out, cancel', () => {
    const taken = new Set(paths.flatMap((p) => p.steps.map((s) => s.event.type)));
    for (const t of ['xstate.done.actor.sendDiscovery', 'xstate.error.actor.sendDiscovery', 'discovery.response', TIMEOUT_TICK, 'peer-manager.reply', STORE_TICK, 'discovery.cancel']) expect(taken).to.include(t);
    for (const end of ['found', 'failed', 'timedOut', 'cancelled'] as const) expect(paths.some((p) => p.steps.at(-1)!.state.matches(end)), end).to.equal(true);
    expect(paths.length).to.be.at.least(15);
  });

  for (const path of paths) {
    it(path.name, async () => {
      const sut = system();
      try {
        await runPath(
          path,
          (event, expected) => exec(sut, event, expected),
          (expected) => {
            const upTo = path.steps.slice(0, path.steps.findIndex((s) => s.state === expected) + 1);
            const storedThrough = upTo.some((s) => s.event.type === 'peer-manager.reply');
            return check(sut, expected, storedThrough);
          },
        );
      } finally {
        await sut.close();
      }
    });
  }
});
