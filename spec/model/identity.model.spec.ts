/**
 * Model-based test (@xstate/graph) of the identity actor (`actors/identity`): paths that take
 * every transition of its graph (bound addresses: none, one, two dialable, one unspecified;
 * feature bits 0 and 1; two protocol lists; claims asked for by reply and by fact; stop), with
 * and without configured public addresses, each drive the real actor in a test system whose
 * clock is a SimulatedClock, read by `nowSeconds`. The clock moves between steps (sometimes
 * within the same second). After every step the real actor must be where the model is, and its
 * claim must be a valid signed `PeerIdentityMsg` (checked by `validateIdentityMessage`) that
 * says what the model says, with an `updated_at` that never goes back and moves exactly when
 * the signed fields (addresses, features) change; `identity.updated` is published exactly when
 * the claim changes, and a claim asked for is answered with the current one.
 */
import { expect } from 'chai';
import { multiaddr } from '@multiformats/multiaddr';
import type { EventFromLogic, SnapshotFrom } from 'xstate';
import { addressToBytes, parseAddress } from '../../core/address.js';
import { toHex } from '../../core/bytes.js';
import { NodeIdentity } from '../../core/keys.js';
import { identityMachine, type IdentityEmitted, type IdentityInput, type IdentityReply } from '../../actors/identity/index.js';
import { validateIdentityMessage } from '../../protocols/identity/index.js';
import { testSystem } from '../support/actors.js';
import { CountingClock } from '../support/clock.js';
import { TransitionCoverage, transitionsOf } from '../support/coverage.js';
import { runPath, transitionCover, type ModelPath } from '../support/model.js';
import { eventLog, probe } from '../support/probe.js';

type Snap = SnapshotFrom<typeof identityMachine>;
type Ev = EventFromLogic<typeof identityMachine>;

const identity = NodeIdentity.fromSeed(new Uint8Array(32).fill(7));
/** The transitions the real actors take, over all paths. */
const coverage = new TransitionCoverage(identityMachine);
const USER_AGENT = 'tcomms-model/1';
const PUBLIC = ['/ip4/203.0.113.7/tcp/18141'];
const [A, B, ANY] = ['/ip4/10.0.0.1/tcp/18141', '/ip4/10.0.0.2/tcp/18141', '/ip4/0.0.0.0/tcp/18141'];
/** The bound address sets of the model: none, one, two dialable, and one a peer cannot dial. */
const BOUND_SETS: readonly (readonly string[])[] = [[], [A], [A, B], [ANY]];
/** What each set lets the node claim (without public addresses): its dialable addresses. */
const DIALABLE: Record<string, readonly string[]> = { '': [], [A]: [A], [`${A},${B}`]: [A, B], [ANY]: [] };
const PROTOCOL_LISTS: readonly (readonly string[])[] = [['/tari/messaging/0.1.0'], ['/tari/messaging/0.1.0', '/tari/rpc/0.1.0']];

const addressHex = (a: string) => toHex(addressToBytes(parseAddress(a)));

/** The model's state, canonically (the claim's `updated_at` and signature are checked against the clock, not the model). */
function canonical(s: Snap) {
  return {
    status: s.status,
    value: s.value,
    bound: s.context.bound.map(String),
    addresses: s.context.claim.content.addresses.map(toHex),
    features: s.context.claim.content.features,
    protocols: s.context.claim.content.supportedProtocols,
    userAgent: s.context.claim.content.userAgent,
  };
}

function modelEvents(state: Snap): Ev[] {
  if (state.status === 'done') return [];
  return [
    ...BOUND_SETS.map((set): Ev => ({ type: 'identity.addresses-bound', addresses: set.map((a) => multiaddr(a)) })),
    { type: 'identity.features-changed', features: 0 },
    { type: 'identity.features-changed', features: 1 },
    ...PROTOCOL_LISTS.map((protocols): Ev => ({ type: 'identity.protocols-changed', protocols: [...protocols] })),
    { type: 'identity.get-claim', requestId: 'by-fact' },
    // The real run gives this one a reply mailbox (a placeholder cannot be part of the model's event).
    { type: 'identity.get-claim', requestId: 'by-reply' },
    { type: 'identity.stop' },
  ];
}

const describeState = (s: Snap) =>
  s.status === 'done'
    ? 'stopped'
    : `${String(s.value)}(bound [${s.context.bound.map((a) => (String(a) === ANY ? '0.0.0.0' : String(a).split('/')[2])).join(' ')}], claims ${s.context.claim.content.addresses.length}, features ${s.context.claim.content.features}, protocols ${s.context.claim.content.supportedProtocols.length})`;

const modelInput = (publicAddresses: readonly string[] | undefined): IdentityInput => ({
  identity,
  ...(publicAddresses ? { publicAddresses } : {}),
  features: 0,
  userAgent: USER_AGENT,
  protocols: [...PROTOCOL_LISTS[0]!],
  nowSeconds: () => 1n,
});

const pathsFor = (publicAddresses: readonly string[] | undefined) =>
  transitionCover<Snap, Ev>(identityMachine, {
    input: modelInput(publicAddresses),
    events: modelEvents,
    serializeState: (s) => JSON.stringify(canonical(s)),
    describe: describeState,
  });

/** How the clock moves before each step: not at all, within the second, to a later second. */
const ADVANCE_MS = [0, 300, 1_700];
const START_MS = 1_700_000_000_000;

/** The real actor in a test system, with a reply mailbox, its facts recorded and `nowSeconds` reading the simulated clock. */
function system(publicAddresses: readonly string[] | undefined) {
  const clock = new CountingClock();
  clock.set(START_MS);
  const nowSeconds = () => BigInt(Math.floor(clock.now() / 1000));
  const replies = probe<IdentityReply>();
  const s = testSystem({ replies: { logic: replies.logic }, identity: { logic: identityMachine, input: { ...modelInput(publicAddresses), nowSeconds } } }, { clock, inspect: coverage.inspect });
  const actor = s.get('identity');
  const facts = eventLog<IdentityEmitted>();
  actor.on('identity.updated', (e) => facts.push(e));
  actor.on('identity.claim', (e) => facts.push(e));
  return { clock, nowSeconds, actor, replies, facts, replyTo: s.get('replies'), s };
}

/** Runs one path against a fresh real actor, checking state and effects after every step. */
async function drive(path: ModelPath<Snap, Ev>, publicAddresses: readonly string[] | undefined): Promise<void> {
  const sut = system(publicAddresses);
  // What the test expects of the claim, from the clock and the model (not from the actor).
  let updatedAt: bigint | undefined;
  let previous: Snap | undefined;
  let moves = 0;
  let index = 0;
  let facts = 0;
  let replies = 0;
  try {
    await runPath(
      path,
      async (event) => {
        sut.clock.increment(ADVANCE_MS[moves++ % ADVANCE_MS.length]!);
        if (event.type === 'identity.get-claim' && event.requestId === 'by-reply') sut.actor.send({ ...event, replyTo: sut.replyTo });
        else sut.actor.send(event);
      },
      (expected) => {
        const real = sut.actor.getSnapshot();
        expect(canonical(real)).to.deep.equal(canonical(expected));
        expect(sut.clock.pending, 'timers pending').to.equal(0);
        const claimChanged = previous === undefined || JSON.stringify({ ...canonical(previous), value: 0, bound: 0, status: 0 }) !== JSON.stringify({ ...canonical(expected), value: 0, bound: 0, status: 0 });
        const signedChanged =
          previous === undefined ||
          JSON.stringify([canonical(previous).addresses, canonical(previous).features]) !== JSON.stringify([canonical(expected).addresses, canonical(expected).features]);
        // updated_at: now, or one past the last when the clock has not moved past it; kept when only the protocols changed.
        if (signedChanged) updatedAt = updatedAt === undefined || sut.nowSeconds() > updatedAt ? sut.nowSeconds() : updatedAt + 1n;
        // The claim is a valid signed message that says what the model says.
        const claim = real.context.claim;
        const checked = validateIdentityMessage(claim.message, { noiseStatic: identity.noisePublicKey, nowSeconds: sut.nowSeconds() });
        expect(checked.updatedAt).to.equal(updatedAt);
        expect(claim.content.updatedAt).to.equal(updatedAt);
        expect(checked.addresses.map(toHex)).to.deep.equal(canonical(expected).addresses);
        const claimed = publicAddresses ?? DIALABLE[expected.context.bound.map(String).join(',')]!;
        expect(checked.addresses.map(toHex)).to.deep.equal(claimed.map(addressHex));
        expect(checked.features).to.equal(expected.context.claim.content.features);
        expect(checked.supportedProtocols).to.deep.equal(expected.context.claim.content.supportedProtocols);
        expect(checked.userAgent).to.equal(USER_AGENT);
        // identity.updated exactly when the claim changed (not at the start), carrying the new claim.
        const updates = sut.facts.seen.filter((e) => e.type === 'identity.updated');
        const newFacts = updates.slice(facts);
        if (previous !== undefined && claimChanged) {
          expect(newFacts).to.have.length(1);
          expect(toHex(newFacts[0]!.message)).to.equal(toHex(claim.message));
        } else expect(newFacts).to.have.length(0);
        facts = updates.length;
        // A claim asked for is answered with the current one, by reply or by fact.
        const answers = [...sut.replies.seen, ...sut.facts.seen.filter((e): e is IdentityReply => e.type === 'identity.claim')];
        const step = path.steps[index++]!;
        expect(step.state).to.equal(expected);
        if (step.event.type === 'identity.get-claim') {
          const requestId = step.event.requestId;
          const got = (requestId === 'by-reply' ? sut.replies.seen : sut.facts.seen).filter((e): e is IdentityReply => e.type === 'identity.claim');
          expect(got.at(-1)!.requestId).to.equal(requestId);
          expect(toHex(got.at(-1)!.message)).to.equal(toHex(claim.message));
          expect(answers).to.have.length(replies + 1);
        } else expect(answers).to.have.length(replies);
        replies = answers.length;
        previous = expected;
      },
    );
  } finally {
    sut.s.stop();
  }
}

for (const [label, publicAddresses] of [
  ['bound addresses', undefined],
  ['configured public addresses', PUBLIC],
] as const) {
  const paths = pathsFor(publicAddresses);

  describe(`identity machine, model-based, claiming ${label} (paths from its graph drive the real actor)`, function () {
    this.timeout(20_000);

    it('the paths take every transition: each address set, feature and protocol change (and the same again), both ways to ask, stop', () => {
      const events = paths.flatMap((p) => p.steps.slice(1).map((s, i) => ({ from: p.steps[i]!.state, event: s.event, to: s.state })));
      const taken = new Set(events.map((e) => `${e.event.type}:${String(e.from.value)}->${String(e.to.value)}`));
      for (const t of [
        'identity.addresses-bound:unbound->bound',
        'identity.addresses-bound:bound->bound',
        'identity.features-changed:unbound->unbound',
        'identity.features-changed:bound->bound',
        'identity.protocols-changed:unbound->unbound',
        'identity.protocols-changed:bound->bound',
        'identity.get-claim:unbound->unbound',
        'identity.get-claim:bound->bound',
        'identity.stop:unbound->stopped',
        'identity.stop:bound->stopped',
      ]) {
        expect(taken).to.include(t);
      }
      // Both branches of addresses-bound (the claim changes, or only the bound set does) from both states.
      const claimChange = (e: (typeof events)[number]) => JSON.stringify(canonical(e.from).addresses) !== JSON.stringify(canonical(e.to).addresses);
      const bound = events.filter((e) => e.event.type === 'identity.addresses-bound');
      for (const from of ['unbound', 'bound']) {
        expect(bound.some((e) => String(e.from.value) === from && !claimChange(e)), `${from}: no claim change`).to.equal(true);
        if (!publicAddresses) expect(bound.some((e) => String(e.from.value) === from && claimChange(e)), `${from}: claim change`).to.equal(true);
      }
      if (publicAddresses) expect(bound.some(claimChange)).to.equal(false);
      // unbound: 4 (features x protocols); bound: 16 (4 sets x 2 x 2); 11 events from each.
      expect(paths).to.have.length((4 + 16) * 11);
    });

    for (const path of paths) it(path.name, () => drive(path, publicAddresses));
  });
}

describe('identity machine, model-based: coverage of the real runs', () => {
  it('the real actors took every transition of the machine', () => {
    expect(coverage.missing()).to.deep.equal([]);
    expect(coverage.taken.size).to.equal(transitionsOf(identityMachine).length);
  });
});
