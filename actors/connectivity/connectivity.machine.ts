/**
 * The connectivity state chart (pure). Two regions while running:
 *
 * - status: initializing until the first connection (or `initializingTimeout`), then online
 *   (at least `minConnectivity` connections), degraded (fewer, not none) or offline (none);
 * - reaper: every `reapInterval` each pooled connection with no open substream counts one idle
 *   tick; above `reapThreshold` connections, the longest-idle ones past `reapMinIdleMs` (never an
 *   allow-listed peer) are disconnected, down to the threshold.
 *
 * The connection manager tells it of every connection kept and ended. A `peer.violation` bans
 * the peer through the peer manager, for a duration by offence (or the one the reporter gives:
 * the DHT's, PROTOCOL.md 9.9), and disconnects it;
 * allow-listed peers are never banned. Peers a holder keeps (`connectivity.keep`: the DHT's pools)
 * are never reaped. `connectivity.stop` ends it.
 */
import { assign, enqueueActions, setup } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { PMap } from '../../core/pmap.js';
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import { component } from '../system.js';
import type { ConnectivityEmitted, ConnectivityEvent, ConnectivityStatus } from './connectivity.events.js';

/** Defaults (tari_comms' values where it has one). */
export const DEFAULT_CONNECTIVITY_CONFIG = Object.freeze({
  /** Connections at which the node is online. */
  minConnectivity: 1,
  /** Above this many connections idle ones are reaped (tari: 50). */
  reapThreshold: 50,
  /** How often the reaper looks (ms). */
  reapIntervalMs: 60_000,
  /** A connection must have been idle (no substream) this long to be reaped (tari: 20 min). */
  reapMinIdleMs: 20 * 60_000,
  /** Initializing ends at the first connection or after this long (ms). */
  initializingTimeoutMs: 30_000,
  /** An invalid identity claim (a forged or broken signature, bad addresses): a long ban. */
  longBanMs: 6 * 60 * 60_000,
  /** Any other protocol violation: a short ban. */
  shortBanMs: 30 * 60_000,
});

/** What the connectivity actor is started with. */
export interface ConnectivityInput {
  minConnectivity?: number;
  reapThreshold?: number;
  reapIntervalMs?: number;
  reapMinIdleMs?: number;
  initializingTimeoutMs?: number;
  longBanMs?: number;
  shortBanMs?: number;
  /** Peers never banned nor reaped. */
  allowList?: readonly PublicKey[];
}

/** A pooled connection as the reaper sees it. */
export interface PoolEntry {
  publicKey: PublicKey;
  connection: PeerConnection;
  /** Reaper ticks in a row with no open substream. */
  idleTicks: number;
}

/** The connectivity actor's context. */
export interface ConnectivityContext {
  input: ConnectivityInput;
  /** Public key hex -> pooled connection (a persistent map: an update costs O(log n), not a copy). */
  pool: PMap<PoolEntry>;
  /** Allow-listed public keys (hex). */
  allowed: string[];
  /** The status last published. */
  published: ConnectivityStatus | undefined;
  /** Holder -> the public keys (hex) it keeps from the reaper. */
  kept: PMap<readonly string[]>;
}

const cfg = <K extends keyof typeof DEFAULT_CONNECTIVITY_CONFIG>(c: ConnectivityContext, key: K): number =>
  (c.input[key] as number | undefined) ?? DEFAULT_CONNECTIVITY_CONFIG[key];

/** How long a peer is banned for an offence. */
export function banDurationFor(error: PlainError, input: Pick<ConnectivityInput, 'longBanMs' | 'shortBanMs'> = {}): number {
  return error.name === 'IdentityInvalid' ? (input.longBanMs ?? DEFAULT_CONNECTIVITY_CONFIG.longBanMs) : (input.shortBanMs ?? DEFAULT_CONNECTIVITY_CONFIG.shortBanMs);
}

/** Which pooled peers the reaper disconnects (pure): the longest idle past the minimum, down to the threshold. */
export function reapCandidates(pool: PMap<Pick<PoolEntry, 'idleTicks'>>, allowed: readonly string[], threshold: number, minIdleTicks: number): string[] {
  const excess = pool.size - threshold;
  if (excess <= 0) return [];
  return [...pool.entries()]
    .filter(([key, e]) => e.idleTicks >= minIdleTicks && !allowed.includes(key))
    .sort((x, y) => y[1].idleTicks - x[1].idleTicks)
    .slice(0, excess)
    .map(([key]) => key);
}

const statusOf = (c: ConnectivityContext): ConnectivityStatus => {
  const n = c.pool.size;
  return n >= cfg(c, 'minConnectivity') ? 'online' : n > 0 ? 'degraded' : 'offline';
};

/** The connectivity state chart (see the module comment). */
export const connectivityMachine = setup({
  types: {
    context: {} as ConnectivityContext,
    events: {} as ConnectivityEvent,
    input: {} as ConnectivityInput,
    emitted: {} as ConnectivityEmitted,
  },
  delays: {
    reapInterval: ({ context }) => cfg(context, 'reapIntervalMs'),
    initializingTimeout: ({ context }) => cfg(context, 'initializingTimeoutMs'),
  },
  guards: {
    atLeastMinimum: ({ context }) => statusOf(context) === 'online',
    someConnected: ({ context }) => statusOf(context) === 'degraded',
    allowListed: ({ context, event }) => event.type === 'peer.violation' && context.allowed.includes(toHex(event.publicKey)),
  },
  actions: {
    addToPool: assign(({ context, event }) => {
      if (event.type !== 'peer.connected') return {};
      return { pool: context.pool.set(toHex(event.publicKey), { publicKey: event.publicKey, connection: event.connection, idleTicks: 0 }) };
    }),
    removeFromPool: assign(({ context, event }) => {
      if (event.type !== 'peer.disconnected') return {};
      return { pool: context.pool.delete(toHex(event.publicKey)) };
    }),
    publishStatus: enqueueActions(({ context, enqueue }) => {
      const status = statusOf(context);
      if (status === context.published) return;
      enqueue.assign({ published: status });
      enqueue.emit({ type: 'connectivity.status', status, connections: context.pool.size });
    }),
    /** Idle ticks counted (a connection with no open substream is idle); the longest idle above the threshold are disconnected. */
    reapIdle: enqueueActions(({ context, enqueue, system }) => {
      let pool = context.pool;
      for (const [key, e] of context.pool) {
        const idleTicks = e.connection.muxer.streamCount === 0 ? e.idleTicks + 1 : 0;
        if (idleTicks !== e.idleTicks) pool = pool.set(key, { ...e, idleTicks });
      }
      enqueue.assign({ pool });
      const minIdleTicks = Math.ceil(cfg(context, 'reapMinIdleMs') / cfg(context, 'reapIntervalMs'));
      const exempt = [...context.allowed, ...[...context.kept.values()].flat()];
      const reaped = reapCandidates(pool, exempt, cfg(context, 'reapThreshold'), minIdleTicks);
      if (reaped.length === 0) return;
      const cm = component(system, 'connectionManager');
      if (cm) for (const key of reaped) enqueue.sendTo(cm, { type: 'connection-manager.disconnect', publicKey: pool.get(key)!.publicKey });
      enqueue.emit({ type: 'connectivity.reaped', publicKeys: reaped.map((k) => pool.get(k)!.publicKey) });
    }),
    /** The peer is banned (peer manager) for a duration by offence, and disconnected. */
    banOffender: enqueueActions(({ context, event, enqueue, system }) => {
      if (event.type !== 'peer.violation') return;
      const durationMs = event.durationMs ?? banDurationFor(event.error, context.input);
      const reason = `${event.error.name}: ${event.error.message}`;
      const { publicKey } = event;
      const peerManager = component(system, 'peerManager');
      if (peerManager) enqueue.sendTo(peerManager, { type: 'peer.ban', requestId: `ban:${toHex(publicKey)}`, publicKey, durationMs, reason });
      const cm = component(system, 'connectionManager');
      if (cm) enqueue.sendTo(cm, { type: 'connection-manager.disconnect', publicKey });
      enqueue.emit({ type: 'peer.banned', publicKey, durationMs, reason });
    }),
    allow: assign(({ context, event }) => {
      if (event.type !== 'connectivity.allow') return {};
      const key = toHex(event.publicKey);
      return context.allowed.includes(key) ? {} : { allowed: [...context.allowed, key] };
    }),
    keep: assign(({ context, event }) => {
      if (event.type !== 'connectivity.keep') return {};
      return { kept: event.publicKeys.length === 0 ? context.kept.delete(event.holder) : context.kept.set(event.holder, event.publicKeys.map(toHex)) };
    }),
    disallow: assign(({ context, event }) => {
      if (event.type !== 'connectivity.disallow') return {};
      const key = toHex(event.publicKey);
      return { allowed: context.allowed.filter((k) => k !== key) };
    }),
  },
}).createMachine({
  id: 'connectivity',
  context: ({ input }) => ({ input, pool: PMap.empty<PoolEntry>(), allowed: (input.allowList ?? []).map(toHex), published: undefined, kept: PMap.empty<readonly string[]>() }),
  initial: 'running',
  states: {
    running: {
      type: 'parallel',
      on: {
        'peer.violation': [{ guard: 'allowListed' }, { actions: 'banOffender' }],
        'connectivity.allow': { actions: 'allow' },
        'connectivity.disallow': { actions: 'disallow' },
        'connectivity.keep': { actions: 'keep' },
        'connectivity.stop': { target: 'stopped' },
      },
      states: {
        status: {
          initial: 'initializing',
          on: {
            'peer.connected': { target: '.evaluating', actions: 'addToPool' },
            'peer.disconnected': { target: '.evaluating', actions: 'removeFromPool' },
          },
          states: {
            initializing: {
              description: 'No connection yet; ends at the first one or after the timeout.',
              after: { initializingTimeout: { target: 'evaluating' } },
            },
            evaluating: {
              always: [{ guard: 'atLeastMinimum', target: 'online' }, { guard: 'someConnected', target: 'degraded' }, { target: 'offline' }],
            },
            online: { entry: 'publishStatus' },
            degraded: { entry: 'publishStatus' },
            offline: { entry: 'publishStatus' },
          },
        },
        reaper: {
          initial: 'waiting',
          states: {
            waiting: {
              after: { reapInterval: { target: 'waiting', reenter: true, actions: 'reapIdle' } },
            },
          },
        },
      },
    },
    stopped: { type: 'final' },
  },
});
