/**
 * The listener's state chart (pure; implementations in `listener.logic.ts`).
 *
 * opening -> listening -> stopping -> stopped, or failed when no address could be opened. While
 * listening, the accept loop upgrades inbound sockets (at most `maxConcurrentUpgrades` at a
 * time; more are dropped) and reports each outcome: a peer connection goes to the connection
 * manager, a rejection is reported to it too (a peer that proved its key and then broke the
 * protocol is a misbehaving peer). The owner hears when listening starts or fails.
 */
import type { Multiaddr } from '@multiformats/multiaddr';
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import { toPlainError } from '../../core/errors.js';
import type { UpgradeConfig } from '../../channels/upgrade.js';
import type { LivenessService } from '../../channels/liveness.js';
import type { PublicKey } from '../../core/keys.js';
import type { Transport, TransportListener } from '../../transports/transport.js';
import { callbackActor, type Mailbox } from '../mailbox.js';
import { notProvided as provided } from '../not-provided.js';
import { component } from '../system.js';
import type { AcceptLoopEvent, AcceptReport, ListenerEmitted, ListenerEvent, ListenerReport } from './listener.events.js';
import type { AdmissionLimits } from './admission.js';

/** One deadline for a whole inbound upgrade, from accept to active (issue 18: 10 s). */
export const DEFAULT_UPGRADE_TIMEOUT_MS = 10_000;

/** What a listener is started with. */
export interface ListenerInput {
  /** Where to listen, each with the transport that listens there. */
  endpoints: Array<{ transport: Transport; address: Multiaddr }>;
  upgrade: UpgradeConfig;
  /** Upgrades in progress at most (default 32); beyond, the least advanced (then oldest) upgrade of the busiest address is shed. */
  maxConcurrentUpgrades?: number;
  /** The other bounds of fair admission (`admission.ts`): per address, waiting sockets, penalties. */
  admission?: Partial<AdmissionLimits>;
  /** One deadline for a whole inbound upgrade, from accept to active (ms, default 10 000). */
  upgradeTimeoutMs?: number;
  /** Whether a peer is banned now (checked after the handshake, before the connection is handed on). */
  isBanned?: (publicKey: PublicKey) => boolean;
  /** Serves wire byte 0xa7; without it liveness connections are closed. */
  liveness?: LivenessService;
  /** Told when listening starts or fails (the node's root). */
  owner?: Mailbox<ListenerReport>;
}

/** A listener's context. */
export interface ListenerContext {
  input: ListenerInput;
  listeners: TransportListener[];
  addresses: Multiaddr[];
}

/** Input of the accept loop. */
export interface AcceptLoopInput {
  listeners: TransportListener[];
  input: ListenerInput;
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
    acceptLoop: callbackActor<AcceptLoopEvent, AcceptLoopInput, AcceptReport>(notProvided('acceptLoop')),
    closeListeners: fromPromise<void, TransportListener[]>(notProvided('closeListeners')),
  },
  actions: {
    keepListeners: assign((_, params: { listeners: TransportListener[] }) => ({ listeners: params.listeners, addresses: params.listeners.map((l) => l.address) })),
    reportListening: enqueueActions(({ context, enqueue }) => {
      const report: ListenerReport = { type: 'listener.listening', addresses: context.addresses };
      if (context.input.owner) enqueue.sendTo(context.input.owner, report);
      enqueue.emit(report);
    }),
    reportFailed: enqueueActions(({ context, enqueue }, params: { error: unknown }) => {
      const report: ListenerReport = { type: 'listener.failed', error: toPlainError(params.error) };
      if (context.input.owner) enqueue.sendTo(context.input.owner, report);
      enqueue.emit(report);
    }),
    /** A peer connection goes to the connection manager. */
    handOver: enqueueActions(({ event, enqueue, system }) => {
      if (event.type !== 'inbound.upgraded') return;
      const cm = component(system, 'connectionManager');
      if (cm) enqueue.sendTo(cm, { type: 'connection.opened', connection: event.connection });
      enqueue.emit({ type: 'connection.inbound', connection: event.connection });
    }),
    reportRejected: enqueueActions(({ event, enqueue, system }) => {
      if (event.type !== 'inbound.rejected') return;
      const { type: _, ...rejection } = event;
      const cm = component(system, 'connectionManager');
      if (cm) enqueue.sendTo(cm, { type: 'inbound.rejected', ...rejection });
      enqueue.emit({ type: 'connection.rejected', ...rejection });
    }),
  },
}).createMachine({
  id: 'listener',
  context: ({ input }) => ({ input, listeners: [], addresses: [] }),
  initial: 'opening',
  states: {
    opening: {
      description: 'Opening a listener on every endpoint; a failure closes those already open.',
      invoke: {
        id: 'openListeners',
        src: 'openListeners',
        input: ({ context }) => context.input,
        onDone: { target: 'listening', actions: [{ type: 'keepListeners', params: ({ event }) => ({ listeners: event.output }) }, 'reportListening'] },
        onError: { target: 'failed', actions: { type: 'reportFailed', params: ({ event }) => ({ error: event.error }) } },
      },
      on: { 'listener.stop': { target: 'stopped' } },
    },
    listening: {
      description: 'Accepting: each socket is upgraded (bounded), and its outcome handed on.',
      invoke: {
        id: 'acceptLoop',
        src: 'acceptLoop',
        input: ({ context }) => ({ listeners: context.listeners, input: context.input }),
      },
      on: {
        'inbound.upgraded': { actions: 'handOver' },
        'inbound.rejected': { actions: 'reportRejected' },
        'listener.stop': { target: 'stopping' },
      },
    },
    stopping: {
      description: 'Closing every listener (connections already handed out stay open).',
      invoke: {
        id: 'closeListeners',
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
