/**
 * Model-based test (@xstate/graph) of the connection manager: two peers, at most one connection
 * kept (the limit), dials answered by the dialer (ok with a connection, or failed), inbound
 * connections from the listener in either direction (the simultaneous-dial tie-break), a kept
 * connection ending, and the stop. One path per transition drives the real connection manager,
 * with its real host of peer-connection actors, in a system where the dialer is a stand-in that
 * answers each request when the step says, with a REAL connection made over the memory
 * transport (or a failure). After every step the real manager must keep the same connections
 * (peer and direction) as the model, its host must hold exactly their actors, a connection it
 * did not keep must be closed, and it must have published and answered what the model says.
 */
import { expect } from 'chai';
import type { EventFromLogic, SnapshotFrom } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { compareDistance, NodeIdentity } from '../../core/keys.js';
import { ProtocolRegistry } from '../../channels/protocol-registry.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import { connectionManagerLogic, connectionManagerMachine, type ConnectionManagerEmitted, type ConnectionManagerReply } from '../../actors/connection-manager/index.js';
import type { DialerInbox } from '../../actors/dialer/index.js';
import { recorder, testSystem } from '../support/actors.js';
import { connectedPair } from '../support/connections.js';
import { runPath, transitionCover } from '../support/model.js';
import { until } from '../support/wait.js';

type Snap = SnapshotFrom<typeof connectionManagerMachine>;
type Ev = EventFromLogic<typeof connectionManagerMachine>;
type Name = 'p' | 'q';
type Direction = 'inbound' | 'outbound';

// Three identities ordered by NodeId: q < us < p. With p we are the smaller NodeId (we keep our
// outbound connection in a simultaneous dial), with q the larger (we keep our inbound one).
const [q, us, p] = Array.from({ length: 3 }, () => NodeIdentity.generate()).sort((a, b) => compareDistance(a.nodeId, b.nodeId)) as [NodeIdentity, NodeIdentity, NodeIdentity];
const PEERS: Record<Name, NodeIdentity> = { p, q };
const nameOf = (hex: string): Name => (hex === toHex(p.publicKey) ? 'p' : 'q');

/**
 * The model's connections: one fake per (peer, direction, state it arrives in), so that every
 * arrival along a path is a new connection (a path visits each state once, but for its last step).
 */
const fakes = new Map<string, PeerConnection>();
function fake(name: Name, direction: Direction, at: string): PeerConnection {
  const key = `${name}:${direction}@${at}`;
  if (!fakes.has(key)) {
    const id = PEERS[name];
    fakes.set(key, { peer: { publicKey: id.publicKey, nodeId: id.nodeId, signature: new Uint8Array(64), supportedProtocols: [] }, direction, tag: key } as unknown as PeerConnection);
  }
  return fakes.get(key)!;
}
const tagOf = (c: PeerConnection) => (c as unknown as { tag?: string }).tag;

const kept = (s: Snap) =>
  Object.fromEntries(
    [...s.context.connections.entries()].map(([hex, c]) => [nameOf(hex), c.direction]).sort(([a], [b]) => String(a).localeCompare(String(b))),
  ) as Partial<Record<Name, Direction>>;
const pending = (s: Snap) => [...s.context.waiting.keys()].sort();
const canonical = (s: Snap) => ({ value: s.value, kept: kept(s), pending: pending(s) });

function modelEvents(state: Snap): Ev[] {
  if (!state.matches('running')) return [];
  const at = JSON.stringify(canonical(state));
  const events: Ev[] = [{ type: 'connection-manager.stop' }];
  const k = kept(state);
  for (const name of ['p', 'q'] as const) {
    const requestId = `dial-${name}`;
    if (!state.context.waiting.has(requestId)) events.push({ type: 'connection-manager.dial', requestId, publicKey: PEERS[name].publicKey });
    else {
      events.push({ type: 'dial.reply', requestId, ok: true, connection: fake(name, 'outbound', at) });
      events.push({ type: 'dial.reply', requestId, ok: false, error: { name: 'DialExhausted', message: 'refused', kind: 'transport' } });
    }
    events.push({ type: 'connection.opened', connection: fake(name, 'inbound', at) });
    const c = state.context.connections.get(toHex(PEERS[name].publicKey));
    if (c && k[name]) events.push({ type: 'peer-connection.closed', publicKey: PEERS[name].publicKey, connection: c, error: undefined, hostKey: state.context.actors.get(toHex(PEERS[name].publicKey))! });
  }
  return events;
}

const paths = transitionCover<Snap, Ev>(connectionManagerMachine, {
  input: { nodeId: us.nodeId, maxConnections: 1, protocols: new ProtocolRegistry() },
  events: modelEvents,
  serializeState: (s) => JSON.stringify(canonical(s)),
  describe: (s) => `${JSON.stringify(s.value)}${JSON.stringify(kept(s)).replace(/"/g, '')}${pending(s).length ? ` waiting ${pending(s).join(',')}` : ''}`.replace(/"/g, ''),
});

/** The real system: the connection manager with its real host, a stand-in dialer, recorded facts and replies. */
function system() {
  const dialer = recorder<DialerInbox>();
  const s = testSystem({ dialer: { logic: dialer.logic }, connectionManager: { logic: connectionManagerLogic, input: { nodeId: us.nodeId, maxConnections: 1, protocols: new ProtocolRegistry(), peerConnection: { keepaliveIntervalMs: 0 } } } });
  const cm = s.get('connectionManager');
  const facts: ConnectionManagerEmitted[] = [];
  for (const t of ['peer.connected', 'peer.disconnected', 'peer.connect-failed', 'connection-manager.reply'] as const) cm.on(t, (e) => void facts.push(e));
  /** Real connections by the model's tag: ours and the peer's ends. */
  const real = new Map<string, { ours: PeerConnection; theirs: PeerConnection }>();
  const closeAll = async () => {
    s.stop();
    await Promise.all([...real.values()].flatMap((r) => [r.ours.close().catch(() => undefined), r.theirs.close().catch(() => undefined)]));
  };
  return { cm, dialer, facts, real, closeAll, crashes: s.crashes };
}
type Sut = ReturnType<typeof system>;

/** A real connection between us and `name`, in `direction` as seen by us. */
async function connect(sut: Sut, tag: string, name: Name, direction: Direction): Promise<PeerConnection> {
  const peer = { identity: PEERS[name], yamux: { keepaliveIntervalMs: 0 } };
  const self = { identity: us, yamux: { keepaliveIntervalMs: 0 } };
  const pair = direction === 'outbound' ? await connectedPair({ a: self, b: peer }) : await connectedPair({ a: peer, b: self });
  const [ours, theirs] = direction === 'outbound' ? [pair.outbound, pair.inbound] : [pair.inbound, pair.outbound];
  theirs.on('stream', (st) => st.destroy());
  theirs.release();
  sut.real.set(tag, { ours, theirs });
  return ours;
}

async function exec(sut: Sut, event: Ev): Promise<void> {
  const cm = sut.cm;
  switch (event.type) {
    case 'connection-manager.dial': {
      const before = sut.dialer.seen.length;
      cm.send({ type: 'connection-manager.dial', requestId: event.requestId, publicKey: event.publicKey });
      await until('the dialer was asked', () => sut.dialer.seen.length === before + 1);
      const asked = sut.dialer.seen.at(-1)!;
      expect(asked).to.deep.include({ type: 'dial.request', requestId: event.requestId });
      return;
    }
    case 'dial.reply': {
      const request = sut.dialer.seen.find((e) => e.type === 'dial.request' && e.requestId === event.requestId) as Extract<DialerInbox, { type: 'dial.request' }>;
      if (event.ok) {
        const connection = await connect(sut, tagOf(event.connection)!, nameOf(toHex(event.connection.peer.publicKey)), 'outbound');
        request.replyTo!.send({ type: 'dial.reply', requestId: event.requestId, ok: true, connection });
      } else request.replyTo!.send({ type: 'dial.reply', requestId: event.requestId, ok: false, error: event.error });
      return;
    }
    case 'connection.opened': {
      const connection = await connect(sut, tagOf(event.connection)!, nameOf(toHex(event.connection.peer.publicKey)), 'inbound');
      cm.send({ type: 'connection.opened', connection });
      return;
    }
    case 'peer-connection.closed': {
      // The peer ends the kept connection: its peer-connection actor reports the close.
      const ours = cm.getSnapshot().context.connections.get(toHex(event.publicKey))!;
      const pair = [...sut.real.values()].find((r) => r.ours === ours)!;
      pair.theirs.muxer.abort();
      await until('the connection manager forgot it', () => cm.getSnapshot().context.connections.get(toHex(event.publicKey)) !== ours);
      return;
    }
    case 'connection-manager.stop':
      cm.send({ type: 'connection-manager.stop' });
      return;
  }
}

/** The real manager is where the model is, with the same connections, actors, facts and replies. */
async function check(sut: Sut, expected: Snap, path: Array<{ event: Ev; state: Snap }>): Promise<void> {
  const cm = sut.cm;
  if (expected.matches('stopping') || expected.status === 'done') {
    await until('stopped', () => cm.getSnapshot().status === 'done', 10_000);
    for (const r of sut.real.values()) await until('every connection closed', () => r.ours.muxer.closed, 5_000);
    return;
  }
  await until('the model state', () => JSON.stringify(canonical(cm.getSnapshot())) === JSON.stringify(canonical(expected)), 5_000).catch(() => {
    expect(canonical(cm.getSnapshot())).to.deep.equal(canonical(expected));
  });
  // Exactly one peer-connection actor per kept connection (replaced and refused ones have ended).
  await until('the host holds the kept ones', () => cm.getSnapshot().context.directory.size === expected.context.connections.size, 5_000);
  // The kept connections are ones the steps made, and open; every other one made is closed.
  const keptReal = new Set(cm.getSnapshot().context.connections.values());
  const made = new Set([...sut.real.values()].map((r) => r.ours));
  for (const c of keptReal) expect(made.has(c)).to.equal(true);
  for (const [tag, r] of sut.real) {
    if (keptReal.has(r.ours)) expect(r.ours.muxer.closed, `${tag} kept`).to.equal(false);
    else await until(`${tag} closed`, () => r.ours.muxer.closed, 5_000);
  }
  // Facts: one peer.connected per peer newly kept, one peer.disconnected per peer no longer kept,
  // one connect-failed per failed dial; a reply per answered dial (ok with the kept connection).
  let connected = 0;
  let disconnected = 0;
  let failed = 0;
  let replies = 0;
  let before: Snap | undefined;
  for (const step of path) {
    if (before) {
      const [was, now] = [kept(before), kept(step.state)];
      for (const name of ['p', 'q'] as const) {
        if (!was[name] && now[name]) connected++;
        if (was[name] && !now[name]) disconnected++;
      }
      if (step.event.type === 'dial.reply') {
        replies++;
        // A dial fails only when no connection to its peer is kept (one kept the other way answers it).
        if (!now[step.event.requestId === 'dial-p' ? 'p' : 'q']) failed++;
      }
    }
    before = step.state;
  }
  const count = (t: string) => sut.facts.filter((f) => f.type === t).length;
  await until('facts published', () => count('peer.connected') === connected && count('peer.disconnected') === disconnected && count('connection-manager.reply') === replies, 5_000).catch(() => {
    expect({ connected: count('peer.connected'), disconnected: count('peer.disconnected'), replies: count('connection-manager.reply') }).to.deep.equal({ connected, disconnected, replies });
  });
  expect(count('peer.connect-failed')).to.equal(failed);
  // A successful reply carries the connection the manager keeps for that peer.
  for (const r of sut.facts.filter((f): f is Extract<ConnectionManagerReply, { ok: true }> => f.type === 'connection-manager.reply' && f.ok)) {
    expect([...sut.real.values()].some((x) => x.ours === r.connection)).to.equal(true);
  }
  expect(sut.crashes).to.deep.equal([]);
}

describe('connection manager machine, model-based (paths from its graph drive the real manager)', function () {
  this.timeout(60_000);

  it('the paths take every transition: dials answered both ways, inbound connections, the limit, the tie-break both ways, ends and the stop', () => {
    const taken = new Set(paths.flatMap((path) => path.steps.map((s) => s.event.type)));
    for (const t of ['connection-manager.dial', 'dial.reply', 'connection.opened', 'peer-connection.closed', 'connection-manager.stop']) expect(taken).to.include(t);
    // The tie-break kept the existing connection somewhere, and replaced it somewhere else.
    const replaced = paths.some((path) => path.steps.some((s, i) => i > 0 && kept(path.steps[i - 1]!.state).p === 'inbound' && kept(s.state).p === 'outbound'));
    const refused = paths.some((path) => path.steps.some((s, i) => i > 0 && s.event.type === 'connection.opened' && kept(path.steps[i - 1]!.state).p === 'outbound' && kept(s.state).p === 'outbound'));
    expect(replaced && refused).to.equal(true);
    expect(paths.length).to.be.at.least(30);
  });

  for (const path of paths) {
    it(path.name, async () => {
      const sut = system();
      try {
        await runPath(
          path,
          (event) => exec(sut, event),
          (expected) => check(sut, expected, path.steps.slice(0, path.steps.findIndex((s) => s.state === expected) + 1)),
        );
      } finally {
        await sut.closeAll();
      }
    });
  }
});

