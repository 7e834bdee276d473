/**
 * The listener's state chart (pure; implementations in `listener.logic.ts`).
 *
 * opening -> listening -> stopping -> stopped, or failed when no address could be opened.
 * While listening, the accept loop upgrades inbound sockets (at most `maxConcurrentUpgrades` at
 * a time; more are dropped) and reports each outcome, which is published as a fact.
 */
import type { Multiaddr } from '@multiformats/multiaddr';
import { assign, emit, fromCallback, fromPromise, setup, type AnyActorRef } from 'xstate';
import { toPlainError } from '../../core/errors.js';
import type { UpgradeConfig } from '../../channels/upgrade.js';
import type { LivenessService } from '../../channels/liveness.js';
import type { PublicKey } from '../../core/keys.js';
import type { Transport, TransportListener } from '../../transports/transport.js';
import type { AcceptLoopEvent, ListenerEmitted, ListenerEvent } from './listener.events.js';
import { notProvided as provided } from '../not-provided.js';

/** What a listener is started with. */
export interface ListenerInput {
  /** Where to listen, each with the transport that listens there. */
  endpoints: Array<{ transport: Transport; address: Multiaddr }>;
  upgrade: UpgradeConfig;
  /** Upgrades in progress at most (default 32); sockets beyond are closed at once. */
  maxConcurrentUpgrades?: number;
  /** Whether a peer is banned (checked after the handshake, before the connection is handed on). */
  isBanned?: (publicKey: PublicKey) => Promise<boolean>;
  /** Serves wire byte 0xa7; without it liveness connections are closed. */
  liveness?: LivenessService;
}

/** A listener's context. */
export interface ListenerContext extends ListenerInput {
  listeners: TransportListener[];
  addresses: Multiaddr[];
}

/** Input of the accept loop. */
export interface AcceptLoopInput {
  listeners: TransportListener[];
  input: ListenerInput;
  parent: AnyActorRef;
}

const notProvided = (name: string) => provided(name, 'listener.logic.ts');

/** The listener state chart (see the module comment). */
export const listenerMachine = setup({
  types: {
    context: {} as ListenerContext,
    events: {} as ListenerEvent,
    input: {} as ListenerInput,
    emitted: {} as ListenerEmitted,
  },
  actors: {
    openListeners: fromPromise<TransportListener[], ListenerInput>(notProvided('openListeners')),
    acceptLoop: fromCallback<AcceptLoopEvent, AcceptLoopInput>(notProvided('acceptLoop')),
    closeListeners: fromPromise<void, TransportListener[]>(notProvided('closeListeners')),
  },
  actions: {
    assignListeners: assign(({ event }) => {
      const listeners = (event as unknown as { output: TransportListener[] }).output;
      return { listeners, addresses: listeners.map((l) => l.address) };
    }),
    publishListening: emit(({ context }) => ({ type: 'listener.listening' as const, addresses: context.addresses })),
    publishFailed: emit(({ event }) => ({ type: 'listener.failed' as const, error: toPlainError((event as { error?: unknown }).error) })),
    publishInbound: emit(({ event }) => ({ type: 'connection.inbound' as const, connection: (event as Extract<ListenerEvent, { type: 'inbound.upgraded' }>).connection })),
    publishRejected: emit(({ event }) => {
      const e = event as Extract<ListenerEvent, { type: 'inbound.rejected' }>;
      return { type: 'connection.rejected' as const, reason: e.reason, remoteAddress: e.remoteAddress, ...(e.error ? { error: e.error } : {}), ...(e.publicKey ? { publicKey: e.publicKey } : {}) };
    }),
  },
}).createMachine({
  id: 'listener',
  context: ({ input }) => ({ ...input, listeners: [], addresses: [] }),
  initial: 'opening',
  states: {
    opening: {
      description: 'Opening a listener on every endpoint; a failure closes those already open.',
      invoke: {
        src: 'openListeners',
        input: ({ context }) => context,
        onDone: { target: 'listening', actions: ['assignListeners', 'publishListening'] },
        onError: { target: 'failed', actions: 'publishFailed' },
      },
      on: { 'listener.stop': { target: 'stopped' } },
    },
    listening: {
      description: 'Accepting: each socket is upgraded (bounded), and its outcome published.',
      invoke: {
        id: 'acceptLoop',
        src: 'acceptLoop',
        input: ({ context, self }) => ({ listeners: context.listeners, input: context, parent: self }),
      },
      on: {
        'inbound.upgraded': { actions: 'publishInbound' },
        'inbound.rejected': { actions: 'publishRejected' },
        'listener.stop': { target: 'stopping' },
      },
    },
    stopping: {
      description: 'Closing every listener (connections already handed out stay open).',
      invoke: {
        src: 'closeListeners',
        input: ({ context }) => context.listeners,
        onDone: { target: 'stopped' },
        onError: { target: 'stopped' },
      },
    },
    stopped: { type: 'final' },
    failed: { type: 'final' },
  },
});

