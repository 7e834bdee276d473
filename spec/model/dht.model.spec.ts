/**
 * Model-based test (@xstate/graph) of the DHT actor (`actors/dht`, PROTOCOL.md section 9). The
 * model's states are the actor's value, whether it is online, whether a JOIN is due, and the
 * discoveries in flight (at most one here). One path per transition drives a real DHT actor in a
 * system with a real peer manager (the storing of a discovered claim held until the step lets it
 * through), real discovery actors, and a connectivity stand-in that records the bans. Its JOIN is
 * an effect whose promise the step settles; timers run on a SimulatedClock. After every step the
 * real actor must be where the model is; claims, answers, bans and replies are checked as they
 * happen.
 */
import { expect } from 'chai';
import { fromCallback, SimulatedClock, type EventFromLogic, type SnapshotFrom } from 'xstate';
import { addressToBytes, parseAddress } from '../../core/address.js';
import { toHex } from '../../core/bytes.js';
import { NodeIdentity, type PublicKey } from '../../core/keys.js';
import { checkPeerClaim, createPeerClaim, type ValidatedClaim } from '../../protocols/dht/index.js';
import { dhtLogic, dhtMachine, type DhtDiscoveryReply, type DhtEffects, type DhtInput } from '../../actors/dht/index.js';
import type { ConnectivityInbox } from '../../actors/connectivity/index.js';
import { PeerManagerClient, peerManagerLogic, type PeerManagerInbox } from '../../actors/peer-manager/index.js';
import { MemoryPeerStore } from '../../storage/memory-store.js';
import { recorder, startActor, testSystem } from '../support/actors.js';
import { runPath, transitionCover } from '../support/model.js';
import { until } from '../support/wait.js';

type Snap = SnapshotFrom<typeof dhtMachine>;
type Ev = EventFromLogic<typeof dhtMachine>;

const NONCE = 42n;
const COOLDOWN = 1_000;
// Far beyond any sum of cool-downs a path adds up: the two timers never fire each other's.
const DISCOVERY_TIMEOUT = 1_000_000;
const COOLDOWN_TICK = 'xstate.after.joinCooldown.dht.running.cooling';
const now = BigInt(Math.floor(Date.now() / 1000));
const [t1, t2, joiner, asker, offender] = Array.from({ length: 5 }, () => NodeIdentity.generate());

function claimOf(id: NodeIdentity, port: number): ValidatedClaim {
  const check = checkPeerClaim(createPeerClaim(id, { addresses: [addressToBytes(parseAddress(`/ip4/10.0.0.1/tcp/${port}`))], features: 1, userAgent: 'x', updatedAt: now }), { nowSeconds: now });
  if (!check.ok) throw new Error(check.detail);
  return check.claim;
}
const CLAIMS = { t1: claimOf(t1!, 1001), joiner: claimOf(joiner!, 1003), asker: claimOf(asker!, 1004) };

/** Model-only events: how a discovery ends (the real one ends by itself once the step makes it). */
type Ended = { type: 'discovery.ended'; key: string; outcome: { ok: false; error: { name: string; message: string; kind: 'timeout' } } | { ok: true; peer: never } };
const ended = (how: 'found' | 'timedOut'): Ev =>
  ({ type: 'discovery.ended', key: toHex(t1!.publicKey), outcome: how === 'found' ? { ok: true, peer: { publicKey: t1!.publicKey } } : { ok: false, error: { name: 'DiscoveryTimeout', message: '', kind: 'timeout' } } }) as unknown as Ev;

function modelEvents(state: Snap): Ev[] {
  if (state.status === 'done') return [];
  const running = state.context.discoveries.size > 0;
  const events: Ev[] = [
    { type: 'dht.connectivity', status: 'online' },
    { type: 'dht.connectivity', status: 'offline' },
    { type: 'dht.join' },
    { type: 'dht.discover', requestId: 'r', publicKey: t1!.publicKey },
    { type: 'dht.stop' },
  ];
  if (running) {
    events.push({ type: 'dht.discover', requestId: 'r', publicKey: t2!.publicKey }); // refused: one at most
    events.push(ended('found'));
    if (!state.matches({ running: 'cooling' })) events.push(ended('timedOut'));
  }
  if (state.matches({ running: 'joining' })) {
    events.push({ type: 'xstate.done.actor.sendJoin', output: 2, actorId: 'sendJoin' } as unknown as Ev);
    events.push({ type: 'xstate.error.actor.sendJoin', error: new Error('NoPeers'), actorId: 'sendJoin' } as unknown as Ev);
  }
  if (state.matches({ running: 'cooling' })) events.push({ type: COOLDOWN_TICK } as unknown as Ev);
  if (state.matches({ running: 'idle' })) {
    // What the pipeline reports: in one state, for the paths to stay few (they change no state).
    events.push({ type: 'dht.violation', publicKey: offender!.publicKey, reason: 'signature_invalid', durationMs: 7_200_000 });
    events.push({ type: 'dht.join-received', claim: CLAIMS.joiner, ignored: false });
    events.push({ type: 'dht.discovery-requested', origin: asker!.publicKey, claim: CLAIMS.asker, ignored: false, nonce: 7n });
    events.push({ type: 'dht.discovery-response', from: t1!.publicKey, claim: CLAIMS.t1, ignored: false, nonce: NONCE + 1n }); // not in flight: dropped
  }
  return events;
}

const serializeEvent = (e: Ev): string => {
  switch (e.type) {
    case 'dht.connectivity':
      return `${e.type}:${e.status}`;
    case 'dht.discover':
      return `${e.type}:${toHex(e.publicKey).slice(0, 8)}`;
    case 'discovery.ended':
      return `${e.type}:${e.outcome.ok}`;
    default:
      return e.type;
  }
};

const canonical = (s: Snap) => ({ value: s.value, online: s.context.online, rejoinDue: s.context.rejoinDue, discoveries: s.context.discoveries.size });

const config: DhtInput['config'] = { autoJoin: true, joinCooldownMs: COOLDOWN, discoveryTimeoutMs: DISCOVERY_TIMEOUT, maxPendingDiscoveries: 1 };
const modelEffects: DhtEffects = { sendJoin: () => Promise.resolve(0), sendDiscovery: () => Promise.resolve(1), answerDiscovery: () => {}, newNonce: () => NONCE };

const paths = transitionCover<Snap, Ev>(dhtMachine, {
  input: { config, effects: modelEffects } satisfies DhtInput,
  events: modelEvents,
  serializeState: (s) => JSON.stringify(canonical(s)),
  serializeEvent,
  describe: (s) => `${JSON.stringify(s.value).replace(/"/g, '')}(${s.context.online ? 'online' : 'offline'}${s.context.rejoinDue ? ', due' : ''}${s.context.discoveries.size ? ', discovering' : ''})`,
});

/** The real system: the DHT actor, a real peer manager (discovered claims held), a recording connectivity. */
function system() {
  const clock = new SimulatedClock();
  const pm = startActor(peerManagerLogic, { input: { store: new MemoryPeerStore() } });
  const peers = new PeerManagerClient(pm);
  const held: Array<Extract<PeerManagerInbox, { type: 'peer.add' }>> = [];
  const gate = fromCallback<PeerManagerInbox>(({ receive }) => receive((e) => (e.type === 'peer.add' && e.requestId.startsWith('discovery-store:') ? void held.push(e) : pm.send(e))));
  const connectivity = recorder<ConnectivityInbox>();
  let joining: { resolve(n: number): void; reject(e: Error): void } | undefined;
  const joins = { started: 0 };
  const answered: Array<{ origin: PublicKey; nonce: bigint }> = [];
  const effects: DhtEffects = {
    sendJoin: () => {
      joins.started++;
      return new Promise<number>((resolve, reject) => (joining = { resolve, reject }));
    },
    sendDiscovery: () => Promise.resolve(1),
    answerDiscovery: (origin, nonce) => void answered.push({ origin, nonce }),
    newNonce: () => NONCE,
  };
  const s = testSystem({ peerManager: { logic: gate }, connectivity: { logic: connectivity.logic }, dht: { logic: dhtLogic, input: { config, effects } satisfies DhtInput } }, { clock });
  const dht = s.get('dht');
  const replies: DhtDiscoveryReply[] = [];
  dht.on('dht.discovery-result', (r) => void replies.push(r));
  const close = async () => {
    s.stop();
    await peers.stop();
  };
  return { clock, dht, pm, peers, held, connectivity, joining: () => joining, joins, answered, replies, close, crashes: s.crashes };
}
type Sut = ReturnType<typeof system>;

const discoveryOf = (sut: Sut) => sut.dht.getSnapshot().children[`discovery:${toHex(t1!.nodeId)}`];

async function exec(sut: Sut, event: Ev, expected: Snap): Promise<void> {
  const reached = () =>
    until(`the DHT actor reaches ${JSON.stringify(canonical(expected))}`, () => sut.dht.getSnapshot().status === expected.status && JSON.stringify(canonical(sut.dht.getSnapshot())) === JSON.stringify(canonical(expected)));
  switch (event.type as string) {
    case 'xstate.done.actor.sendJoin':
      sut.joining()!.resolve(2);
      return reached();
    case 'xstate.error.actor.sendJoin':
      sut.joining()!.reject(Object.assign(new Error('the closest strategy selected no peer'), { name: 'NoPeers' }));
      return reached();
    case COOLDOWN_TICK:
      sut.clock.increment(COOLDOWN);
      return reached();
    case 'discovery.ended': {
      const found = (event as Ended).outcome.ok;
      await until('the discovery runs', () => discoveryOf(sut)?.getSnapshot().status === 'active');
      if (found) {
        // T1 answers with the nonce in flight; its claim is stored, then the discovery ends.
        sut.dht.send({ type: 'dht.discovery-response', from: t1!.publicKey, claim: CLAIMS.t1, ignored: false, nonce: NONCE });
        await until('the claim is held on its way to the peer manager', () => sut.held.length === 1);
        sut.pm.send(sut.held.shift()!);
      } else sut.clock.increment(DISCOVERY_TIMEOUT);
      return reached();
    }
    default:
      sut.dht.send(event as Exclude<Ev, { type: `xstate.${string}` | 'discovery.ended' }>);
      return reached();
  }
}

describe('DHT machine, model-based (paths from its graph drive a real DHT actor)', function () {
  this.timeout(120_000);

  it('the paths take every transition: the JOIN cycle online and offline, discoveries started, joined, refused and ended, the pipeline\'s reports, stop', () => {
    const taken = new Set(paths.flatMap((p) => p.steps.map((s) => serializeEvent(s.event))));
    for (const t of ['dht.connectivity:online', 'dht.connectivity:offline', 'dht.join', 'xstate.done.actor.sendJoin', 'xstate.error.actor.sendJoin', COOLDOWN_TICK, 'discovery.ended:true', 'discovery.ended:false', 'dht.violation', 'dht.join-received', 'dht.discovery-requested', 'dht.discovery-response', 'dht.stop']) {
      expect(taken, t).to.include(t);
    }
    for (const v of ['idle', 'joining', 'cooling', 'joined'] as const) expect(paths.some((p) => p.steps.some((s) => s.state.matches({ running: v }))), v).to.equal(true);
    expect(paths.some((p) => p.steps.some((s) => s.state.context.rejoinDue && s.state.matches({ running: 'cooling' }))), 'a JOIN due at the end of a cool-down').to.equal(true);
    expect(paths.length).to.be.at.least(40);
  });

  for (const path of paths) {
    it(path.name, async () => {
      const sut = system();
      const asked: string[] = [];
      try {
        await runPath(
          path,
          async (event, expected) => {
            const before = { replies: sut.replies.length, violations: sut.connectivity.seen.length, answered: sut.answered.length };
            await exec(sut, event, expected);
            if (event.type === 'dht.discover') asked.push(event.requestId);
            // What the step must have done besides the state.
            if (event.type === 'dht.violation') {
              expect(sut.connectivity.seen.slice(before.violations)).to.deep.equal([
                { type: 'peer.violation', publicKey: offender!.publicKey, error: { name: 'DhtViolation', message: 'signature_invalid', kind: 'protocol' }, durationMs: 7_200_000 },
              ]);
            }
            if (event.type === 'dht.join-received' || event.type === 'dht.discovery-requested') {
              const who = event.type === 'dht.join-received' ? joiner! : asker!;
              const deadline = Date.now() + 5_000;
              while (!(await sut.peers.find({ publicKey: who.publicKey })) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
              expect((await sut.peers.find({ publicKey: who.publicKey }))?.addresses.length, 'the claim was stored').to.equal(1);
            }
            if (event.type === 'dht.discovery-requested') expect(sut.answered.slice(before.answered).map((a) => [toHex(a.origin), a.nonce])).to.deep.equal([[toHex(asker!.publicKey), 7n]]);
            if (event.type === 'dht.discover' && toHex(event.publicKey) === toHex(t2!.publicKey)) {
              expect(sut.replies.slice(before.replies).map((r) => !r.outcome.ok && r.outcome.error.name)).to.deep.equal(['TooManyDiscoveries']);
            }
            if (event.type === 'discovery.ended' || event.type === 'dht.stop') {
              // Every request that waited on the discovery got its answer.
              const answeredNow = sut.replies.slice(before.replies);
              expect(answeredNow.every((r) => (event.type === 'dht.stop' ? !r.outcome.ok && r.outcome.error.name === 'DiscoveryCancelled' : true))).to.equal(true);
            }
          },
          (expected) => {
            const real = sut.dht.getSnapshot();
            expect(real.status).to.equal(expected.status);
            expect(canonical(real)).to.deep.equal(canonical(expected));
            expect(sut.crashes).to.deep.equal([]);
          },
        );
        // Each request for a key was answered once, whatever happened.
        const t1Requests = asked.length;
        expect(sut.replies.length).to.be.at.most(t1Requests);
      } finally {
        await sut.close();
      }
    });
  }
});
