/**
 * The peer manager's state chart (pure: every action, guard and actor is named; the store
 * worker's real implementation comes from `peer-manager.logic.ts` through `.provide()`).
 *
 * running: commands go to the store worker (one at a time, bounded queue); its results become
 * replies and published facts; a ban schedules its own expiry. The allow-list is checked here:
 * an allow-listed peer is never banned.
 */
import { enqueueActions, fromCallback, sendTo, setup, type AnyActorRef } from 'xstate';
import { toHex } from '../../core/bytes.js';
import type { PublicKey } from '../../core/keys.js';
import type { PeerStore } from '../../storage/peer-store.js';
import type { PeerManagerCommand, PeerManagerEmitted, PeerManagerEvent, WorkerEvent } from './peer-manager.events.js';

/** What the peer manager is started with. */
export interface PeerManagerInput {
  store: PeerStore;
  /** Public keys (hex) that are never banned. */
  allowList?: readonly string[];
  /** The clock the manager judges times by (ms). Tests pass a SimulatedClock's `now`. */
  now?: () => number;
  /** Commands waiting for the store at most (default 1024); more are refused at once. */
  maxQueue?: number;
}

/** The peer manager's context. */
export interface PeerManagerContext {
  store: PeerStore;
  allowList: ReadonlySet<string>;
  now: () => number;
  maxQueue: number;
}

/** Input of the store worker. */
export interface StoreWorkerInput {
  store: PeerStore;
  now: () => number;
  maxQueue: number;
  parent: AnyActorRef;
}

/** Replaced by the real worker in `peer-manager.logic.ts`. */
const storeWorkerNotProvided = fromCallback<WorkerEvent, StoreWorkerInput>(() => {
  throw new Error('peerStoreWorker is provided by peer-manager.logic.ts');
});

const allowListed = (context: PeerManagerContext, publicKey: PublicKey) => context.allowList.has(toHex(publicKey));

/** The peer-manager state chart (see the module comment). */
export const peerManagerMachine = setup({
  types: {
    context: {} as PeerManagerContext,
    events: {} as PeerManagerEvent,
    input: {} as PeerManagerInput,
    emitted: {} as PeerManagerEmitted,
  },
  actors: { peerStoreWorker: storeWorkerNotProvided },
  guards: {
    isAllowListedBan: ({ context, event }) => event.type === 'peer.ban' && allowListed(context, event.publicKey),
  },
  actions: {
    forwardToWorker: sendTo('worker', ({ event }) => ({ type: 'work', request: event as PeerManagerCommand }) as WorkerEvent),
    refuseAllowListedBan: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'peer.ban') return;
      const reply = {
        type: 'peer-manager.reply' as const,
        requestId: event.requestId,
        ok: false as const,
        error: { name: 'PeerAllowListed', message: 'an allow-listed peer is never banned', kind: 'peer' as const },
      };
      if (event.replyTo) enqueue.sendTo(event.replyTo, reply);
      else enqueue.emit(reply);
    }),
    publishResult: enqueueActions(({ event, enqueue, context }) => {
      if (event.type !== 'store.done' && event.type !== 'store.failed') return;
      const request = event.request;
      if (event.type === 'store.done') {
        for (const fact of event.facts) {
          enqueue.emit(fact);
          if (fact.type === 'peer.banned') {
            // The expiry is an event to this actor, timed by its clock (a SimulatedClock in tests).
            enqueue.raise(
              { type: 'ban.expired', requestId: `ban-expiry:${toHex(fact.peer.publicKey)}`, publicKey: fact.peer.publicKey },
              { delay: Math.max(0, fact.until - context.now()), id: `ban-expiry:${toHex(fact.peer.publicKey)}` },
            );
          }
        }
      }
      if (request.type === 'ban.expired') return;
      const reply =
        event.type === 'store.done'
          ? { type: 'peer-manager.reply' as const, requestId: request.requestId, ok: true as const, result: event.result }
          : { type: 'peer-manager.reply' as const, requestId: request.requestId, ok: false as const, error: event.error };
      if (request.replyTo) enqueue.sendTo(request.replyTo, reply);
      else enqueue.emit(reply);
    }),
    closeWorker: sendTo('worker', { type: 'close' } as WorkerEvent),
  },
}).createMachine({
  id: 'peerManager',
  context: ({ input }) => ({
    store: input.store,
    allowList: new Set(input.allowList ?? []),
    now: input.now ?? Date.now,
    maxQueue: input.maxQueue ?? 1024,
  }),
  initial: 'running',
  // The worker lives as long as the manager is running or stopping.
  invoke: {
    id: 'worker',
    src: 'peerStoreWorker',
    input: ({ context, self }) => ({ store: context.store, now: context.now, maxQueue: context.maxQueue, parent: self }),
  },
  // While the worker lives (running and stopping), commands go to it and its results are
  // published; once stopping, it refuses new commands with PeerManagerStopped.
  on: {
    'peer.ban': [{ guard: 'isAllowListedBan', actions: 'refuseAllowListedBan' }, { actions: 'forwardToWorker' }],
    'peer.add': { actions: 'forwardToWorker' },
    'peer.find': { actions: 'forwardToWorker' },
    'peer.closest': { actions: 'forwardToWorker' },
    'peer.random': { actions: 'forwardToWorker' },
    'peer.unban': { actions: 'forwardToWorker' },
    'peer.delete': { actions: 'forwardToWorker' },
    'peer.dial-attempted': { actions: 'forwardToWorker' },
    'peer.dial-succeeded': { actions: 'forwardToWorker' },
    'peer.dial-failed': { actions: 'forwardToWorker' },
    'ban.expired': { actions: 'forwardToWorker' },
    'store.done': { actions: 'publishResult' },
    'store.failed': { actions: 'publishResult' },
  },
  states: {
    running: {
      description: 'Commands are served by the store worker, one at a time, in arrival order.',
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

