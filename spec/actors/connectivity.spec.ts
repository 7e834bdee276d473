import { expect } from 'chai';
import { PMap } from '../../core/pmap.js';
import { SimulatedClock } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { NodeIdentity, type PublicKey } from '../../core/keys.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import type { ConnectionManagerInbox } from '../../actors/connection-manager/index.js';
import type { PeerManagerInbox } from '../../actors/peer-manager/index.js';
import {
  ConnectivityTimeout,
  connectivityLogic,
  DEFAULT_CONNECTIVITY_CONFIG,
  reapCandidates,
  waitForConnectivity,
  type ConnectivityEmitted,
  type ConnectivityInbox,
  type ConnectivityInput,
} from '../../actors/connectivity/index.js';
import { recorder, testSystem } from '../support/actors.js';

const key = (): PublicKey => NodeIdentity.generate().publicKey;

/** The connectivity actor in a system with stand-ins for the peer manager and the connection manager. */
function harness(over: Partial<ConnectivityInput> = {}, streams: Record<string, number> = {}) {
  const clock = new SimulatedClock();
  const pm = recorder<PeerManagerInbox>();
  const cm = recorder<ConnectionManagerInbox>();
  const system = testSystem({ peerManager: { logic: pm.logic }, connectionManager: { logic: cm.logic }, connectivity: { logic: connectivityLogic, input: { ...over } } }, { clock });
  const actor = system.get('connectivity');
  const seen: ConnectivityEmitted[] = [];
  for (const t of ['connectivity.status', 'connectivity.reaped', 'peer.banned'] as const) actor.on(t, (e) => seen.push(e));
  const bans = () => pm.seen.flatMap((e) => (e.type === 'peer.ban' ? [e] : []));
  const disconnects = () => cm.seen.flatMap((e) => (e.type === 'connection-manager.disconnect' ? [e.publicKey] : []));
  /** A connection as the reaper sees it: its open substreams. */
  const connection = (publicKey: PublicKey) => ({ muxer: { get streamCount() { return streams[toHex(publicKey)] ?? 0; } } }) as unknown as PeerConnection;
  const facts = (e: ConnectivityInbox) => actor.send(e);
  const connected = (publicKey: PublicKey) => facts({ type: 'peer.connected', publicKey, connection: connection(publicKey) });
  return { actor, system, clock, bans, disconnects, seen, facts, connected, stop: () => system.stop() };
}

const statuses = (seen: ConnectivityEmitted[]) => seen.filter((e) => e.type === 'connectivity.status').map((e) => (e as { status: string }).status);

describe('connectivity actor', () => {
  it('initializing, then degraded, online and offline against minConnectivity', () => {
    const h = harness({ minConnectivity: 2 });
    expect(h.actor.getSnapshot().matches({ running: { status: 'initializing' } })).to.equal(true);
    const [p, q] = [key(), key()];
    h.connected(p);
    h.connected(q);
    h.facts({ type: 'peer.disconnected', publicKey: p });
    h.facts({ type: 'peer.disconnected', publicKey: q });
    expect(statuses(h.seen)).to.deep.equal(['degraded', 'online', 'degraded', 'offline']);
    expect(h.seen.filter((e) => e.type === 'connectivity.status').map((e) => (e as { connections: number }).connections)).to.deep.equal([1, 2, 1, 0]);
    h.stop();
  });

  it('leaves initializing for offline when nothing connects within the timeout (SimulatedClock)', () => {
    const h = harness();
    h.clock.increment(DEFAULT_CONNECTIVITY_CONFIG.initializingTimeoutMs - 1);
    expect(h.actor.getSnapshot().matches({ running: { status: 'initializing' } })).to.equal(true);
    h.clock.increment(1);
    expect(statuses(h.seen)).to.deep.equal(['offline']);
    h.stop();
  });

  it('reaps the longest-idle connections above the threshold, never a busy or allow-listed one (SimulatedClock)', () => {
    const peers = [key(), key(), key(), key(), key()];
    const [busy, allowed, idle1, idle2, late] = peers as [PublicKey, PublicKey, PublicKey, PublicKey, PublicKey];
    const h = harness({ reapThreshold: 2, reapIntervalMs: 1000, reapMinIdleMs: 3000, allowList: [allowed] }, { [toHex(busy)]: 2 });
    for (const p of [busy, allowed, idle1, idle2]) h.connected(p);
    h.clock.increment(1000);
    h.clock.increment(1000); // (a SimulatedClock fires one round of timers per increment)
    h.connected(late); // idle, but not for long enough
    h.clock.increment(999);
    expect(h.disconnects()).to.have.length(0);
    h.clock.increment(1); // third tick: idle1 and idle2 have 3 idle ticks; excess is 3, only 2 qualify
    expect(h.disconnects().map(toHex).sort()).to.deep.equal([toHex(idle1), toHex(idle2)].sort());
    const reaped = h.seen.find((e) => e.type === 'connectivity.reaped') as { publicKeys: PublicKey[] };
    expect(reaped.publicKeys).to.have.length(2);
    h.stop();
  });

  it('reapCandidates is empty at or below the threshold', () => {
    const pool = PMap.of(Object.entries({ a: { idleTicks: 99 }, b: { idleTicks: 99 } }));
    expect(reapCandidates(pool, [], 2, 1)).to.deep.equal([]);
    expect(reapCandidates(pool, [], 1, 1)).to.have.length(1);
    expect(reapCandidates(pool, ['a', 'b'], 0, 1)).to.deep.equal([]);
  });

  it('bans a violator for a duration by offence and disconnects it; never an allow-listed peer', () => {
    const [forger, noisy, friend] = [key(), key(), key()];
    const h = harness({ allowList: [friend] });
    h.facts({ type: 'peer.violation', publicKey: forger, error: { name: 'IdentityInvalid', message: 'signature', kind: 'protocol' } });
    h.facts({ type: 'peer.violation', publicKey: noisy, error: { name: 'YamuxProtocolError', message: 'window', kind: 'protocol' } });
    h.facts({ type: 'peer.violation', publicKey: friend, error: { name: 'YamuxProtocolError', message: 'window', kind: 'protocol' } });
    expect(h.bans().map((b) => [toHex(b.publicKey), b.durationMs])).to.deep.equal([
      [toHex(forger), DEFAULT_CONNECTIVITY_CONFIG.longBanMs],
      [toHex(noisy), DEFAULT_CONNECTIVITY_CONFIG.shortBanMs],
    ]);
    expect(h.disconnects().map(toHex)).to.deep.equal([toHex(forger), toHex(noisy)]);
    // Allow-listing is a command too.
    h.actor.send({ type: 'connectivity.allow', publicKey: noisy });
    h.facts({ type: 'peer.violation', publicKey: noisy, error: { name: 'X', message: 'y', kind: 'protocol' } });
    expect(h.bans()).to.have.length(2);
    h.stop();
  });

  it('waitForConnectivity resolves when online and times out otherwise', async () => {
    const h = harness();
    const waiting = waitForConnectivity(h.actor, 5000);
    h.connected(key());
    await waiting;
    const h2 = harness();
    const err = await waitForConnectivity(h2.actor, 20).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ConnectivityTimeout);
    h.stop();
    h2.stop();
  });
});
