/**
 * The peer manager's state chart (pure: every action, guard and actor is named; the store
 * worker's real implementation comes from `peer-manager.logic.ts` through `.provide()`).
 *
 * running: commands go to the store worker (one at a time, bounded queue); its results become
 * replies and published facts; a ban schedules its own expiry and is indexed in the ban list
 * the listener checks. The allow-list is checked here: an allow-listed peer is never banned.
 * stopping: the worker serves what is queued, refuses new work and closes the store.
 */
import { enqueueActions, setup } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { ConfigError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import { BanList } from '../../storage/ban-list.js';
import type { PeerStore } from '../../storage/peer-store.js';
import { callbackActor, type Mailbox } from '../mailbox.js';
import { notProvided } from '../not-provided.js';
import { storeWork, type PeerManagerEmitted, type PeerManagerEvent, type PeerManagerReply, type WorkerEvent, type WorkerResult } from './peer-manager.events.js';

/** What the peer manager is started with. */
export interface PeerManagerInput {
  store: PeerStore;
  /** Public keys (hex) that are never banned. */
  allowList?: readonly string[];
  /** The clock the manager judges times by (ms). The node passes its actor clock's `now`. */
  now?: () => number;
  /** Commands waiting for the store at most (default 1024); more are refused at once. */
  maxQueue?: number;
  /**
   * Commands the store serves at once at most (default 64): writes start without waiting for the
   * one before to commit (LMDB commits them together); 1 serves one command at a time.
   */
  maxInFlight?: number;
  /** The index of bans in force, kept in step with the facts (default: a new, empty one). */
  bans?: BanList;
}

/** Input of the store worker. */
export interface StoreWorkerInput {
  store: PeerStore;
  now: () => number;
  maxQueue: number;
  maxInFlight: number;
}

/** The peer manager's context. */
export interface PeerManagerContext {
  store: PeerStore;
  allowList: ReadonlySet<string>;
  now: () => number;
  maxQueue: number;
  bans: BanList;
  /** The store worker (a child for the manager's whole life). */
  worker: Mailbox<WorkerEvent>;
}

/** `maxInFlight` as given (an integer of at least 1), or the default. */
function inFlightBound(n: number | undefined): number {
  if (n === undefined) return 64;
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`peer manager maxInFlight must be an integer of at least 1, got ${n}`);
  return n;
}

/** The longest delay a timer can wait (Node's setTimeout: 2^31 - 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How long until a ban ending at `until` is looked at (at most a timer's longest wait). */
const expiryDelay = (until: number, now: number) => Math.min(Math.max(0, until - now), MAX_TIMER_MS);

const allowListed = (context: PeerManagerContext, publicKey: PublicKey) => context.allowList.has(toHex(publicKey));

const refused = (requestId: string): PeerManagerReply => ({
  type: 'peer-manager.reply',
  requestId,
  ok: false,
  error: { name: 'PeerAllowListed', message: 'an allow-listed peer is never banned', kind: 'peer' },
});

/** The peer-manager state chart (see the module comment). */
export const peerManagerMachine = setup({
  types: {
    context: {} as PeerManagerContext,
    events: {} as PeerManagerEvent,
    input: {} as PeerManagerInput,
    emitted: {} as PeerManagerEmitted,
  },
  actors: { peerStoreWorker: callbackActor<WorkerEvent, StoreWorkerInput, WorkerResult>(notProvided('peerStoreWorker', 'peer-manager.logic.ts')) },
  guards: {
    isAllowListedBan: ({ context, event }) => event.type === 'peer.ban' && allowListed(context, event.publicKey),
  },
  actions: {
    forwardToWorker: enqueueActions(({ context, event, enqueue }) => {
      const request = storeWork(event);
      if (request) enqueue.sendTo(context.worker, { type: 'work', request });
    }),
    refuseAllowListedBan: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'peer.ban') return;
      if (event.replyTo) enqueue.sendTo(event.replyTo, refused(event.requestId));
      else enqueue.emit(refused(event.requestId));
    }),
    /** Facts are published (a ban schedules its expiry) and the request answered. */
    publishResult: enqueueActions(({ event, enqueue, context }) => {
      if (event.type !== 'store.done' && event.type !== 'store.failed') return;
      const request = event.request;
      // (A failed command may bring facts too: the records a peer.add-many wrote all the same.)
      for (const fact of event.facts ?? []) {
        enqueue.emit(fact);
        // One expiry per ban in force. XState does not cancel a delayed event when another is
        // scheduled under its id (the first one's timer would be left running, past a stop, and
        // would unregister the second), so a longer ban cancels the expiry of the one it
        // replaces, and a lifted ban its own.
        const expiry = `ban-expiry:${toHex(fact.peer.publicKey)}`;
        if (fact.type === 'peer.banned') {
          enqueue.cancel(expiry);
          // The expiry is an event to this actor, timed by its clock (a SimulatedClock in tests).
          enqueue.raise({ type: 'ban.expired', requestId: expiry, publicKey: fact.peer.publicKey }, { delay: expiryDelay(fact.until, context.now()), id: expiry });
        } else if (fact.type === 'peer.unbanned') enqueue.cancel(expiry);
      }
      if (request.type === 'ban.expired') {
        // A ban longer than a timer can wait (about 24.8 days) is looked at again until it ends.
        const peer = event.type === 'store.done' && !Array.isArray(event.result) ? event.result : undefined;
        if (peer?.bannedUntil !== undefined && peer.bannedUntil > context.now()) {
          enqueue.raise({ type: 'ban.expired', requestId: request.requestId, publicKey: request.publicKey }, { delay: expiryDelay(peer.bannedUntil, context.now()), id: request.requestId });
        }
        return;
      }
      const reply: PeerManagerReply =
        event.type === 'store.done'
          ? { type: 'peer-manager.reply', requestId: request.requestId, ok: true, result: event.result }
          : { type: 'peer-manager.reply', requestId: request.requestId, ok: false, error: event.error };
      if (request.replyTo) enqueue.sendTo(request.replyTo, reply);
      else enqueue.emit(reply);
    }),
    /** Bans and lifted bans go into the index the listener checks on every connection. */
    indexBans: ({ context, event }) => {
      if (event.type !== 'store.done' && event.type !== 'store.failed') return;
      for (const fact of event.facts ?? []) {
        if (fact.type === 'peer.banned') context.bans.ban(fact.peer.publicKey, fact.until);
        else if (fact.type === 'peer.unbanned') context.bans.unban(fact.peer.publicKey);
      }
    },
    closeWorker: enqueueActions(({ context, enqueue }) => enqueue.sendTo(context.worker, { type: 'close' })),
  },
}).createMachine({
  id: 'peerManager',
  context: ({ input, spawn }) => {
    const now = input.now ?? Date.now;
    const maxQueue = input.maxQueue ?? 1024;
    return {
      store: input.store,
      allowList: new Set(input.allowList ?? []),
      now,
      maxQueue,
      bans: input.bans ?? new BanList(),
      // The worker lives as long as the manager is running or stopping.
      worker: spawn('peerStoreWorker', { id: 'worker', input: { store: input.store, now, maxQueue, maxInFlight: inFlightBound(input.maxInFlight) } }),
    };
  },
  initial: 'running',
  // While the worker lives (running and stopping), commands go to it and its results are
  // published; once stopping, it refuses new commands with PeerManagerStopped.
  on: {
    'peer.ban': [{ guard: 'isAllowListedBan', actions: 'refuseAllowListedBan' }, { actions: 'forwardToWorker' }],
    'peer.add': { actions: 'forwardToWorker' },
    'peer.add-many': { actions: 'forwardToWorker' },
    'peer.find': { actions: 'forwardToWorker' },
    'peer.closest': { actions: 'forwardToWorker' },
    'peer.random': { actions: 'forwardToWorker' },
    'peer.unban': { actions: 'forwardToWorker' },
    'peer.delete': { actions: 'forwardToWorker' },
    'peer.dial-attempted': { actions: 'forwardToWorker' },
    'peer.dial-succeeded': { actions: 'forwardToWorker' },
    'peer.dial-failed': { actions: 'forwardToWorker' },
    'ban.expired': { actions: 'forwardToWorker' },
    'store.done': { actions: ['indexBans', 'publishResult'] },
    'store.failed': { actions: ['indexBans', 'publishResult'] },
  },
  states: {
    running: {
      description: 'Commands are served by the store worker and answered in arrival order (writes overlap, reads wait for the writes before them).',
      on: {
        'peer-manager.stop': { target: 'stopping' },
      },
    },
    stopping: {
      description: 'The worker serves what is queued, refuses new work, and closes the store.',
      entry: 'closeWorker',
      on: { 'store.closed': { target: 'stopped' } },
    },
    stopped: {
      description: 'The worker finished its queue and the store is closed.',
      type: 'final',
    },
  },
});
