/**
 * The RPC client pool's state chart (pure; the session host is in `rpc-client.logic.ts`). The
 * node's component `rpcClient`: running -> stopping -> stopped.
 *
 * running: a call goes to an idle session of its peer and protocol; without one, a new session
 * is opened (lazily, up to `maxSessionsPerPeer`, default 4) and the call waits for it; at the
 * limit the call waits in the pool's queue, which a session finishing its call takes the next
 * call from (one call per session, section 8). A session tells the pool it is idle only when
 * nothing waits.
 * A session idle for `idleTimeoutMs` (default 30 s) closes itself and is forgotten when it ends
 * (a call that reached it meanwhile is bounced back, and made by another session or a new one).
 * A session that never opened (the dial, the negotiation or the handshake failed, or it was
 * rejected) fails the waiting calls when it was the pool's last; a session that broke (the
 * connection dropped, a reset) is replaced when calls wait for one. A call given to a session
 * that ended before starting it goes back to the front of the queue. The server's violations a
 * session reports go to the connection manager (`peer.misbehaved`).
 * stopping: every session is told to close and the waiting calls fail; once all sessions have
 * ended, or after the stop timeout, stopped.
 *
 * The sessions (`rpcClientSession:<NodeId hex>:<n>`) run in a host (`actors/host.ts`), not as
 * spawned children.
 */
import { enqueueActions, setup, type Actor, type SnapshotFrom } from 'xstate';
import type { PublicKey } from '../../core/keys.js';
import { RpcSessionRejected } from '../../protocols/rpc/index.js';
import { HostDirectory, type HostCommandOf, type HostInput } from '../host.js';
import { callbackActor, type Mailbox } from '../mailbox.js';
import { notProvided } from '../not-provided.js';
import { clientSessionActorId, DEFAULT_RPC_CLIENT_SESSION_CONFIG, rpcClientSessionMachine, type RpcClientSessionTimeouts } from '../rpc-client-session/rpc-client-session.machine.js';
import { component } from '../system.js';
import { RpcClientStopped, RpcOpenFailed, type RpcClientCall } from './call.js';
import { ClientPools, type PeerPool } from './pools.js';
import type { RpcClientSessionReport } from '../rpc-client-session/rpc-client-session.events.js';
import type { RpcClientEmitted, RpcClientEvent, RpcClientSessionCrashed } from './rpc-client.events.js';

/** Defaults of the RPC client pool. */
export const DEFAULT_RPC_CLIENT_CONFIG = Object.freeze({
  /** Sessions per peer and service at most (calls beyond wait for one to be idle). */
  maxSessionsPerPeer: 4,
  /** Stopping waits this long at most for the sessions to end (ms). */
  stopTimeoutMs: 5_000,
  /** A session idle this long (no call, no ping) closes itself (ms; 0 = never; why 30 s: `DEFAULT_RPC_CLIENT_SESSION_CONFIG`). */
  idleTimeoutMs: DEFAULT_RPC_CLIENT_SESSION_CONFIG.idleTimeoutMs,
});

/** What the pool is started with. */
export interface RpcClientInput {
  /** The node's clock (ms). */
  now: () => number;
  maxSessionsPerPeer?: number;
  /** A session idle this long closes itself (ms; default 30 s; 0 = never); the next call opens a new one. */
  idleTimeoutMs?: number;
  /** The sessions' waits (section 8's by default). */
  session?: RpcClientSessionTimeouts;
}

/** What the client-session host takes. */
export type RpcClientSessionHostCommand = HostCommandOf<typeof rpcClientSessionMachine>;

/** The pool's context. */
export interface RpcClientContext {
  input: RpcClientInput;
  /** The pools and their sessions (bookkeeping the actions keep). */
  pools: ClientPools;
  directory: HostDirectory<Actor<typeof rpcClientSessionMachine>>;
  host: Mailbox<RpcClientSessionHostCommand>;
}

const maxSessions = (c: RpcClientContext) => c.input.maxSessionsPerPeer ?? DEFAULT_RPC_CLIENT_CONFIG.maxSessionsPerPeer;
const poolOfCall = (c: RpcClientContext, event: RpcClientEvent) => (event.type === 'rpc-client.call' ? c.pools.pool(event.publicKey, event.protocol) : undefined);
const poolOfSession = (c: RpcClientContext, event: RpcClientEvent) => ('key' in event ? c.pools.poolOf(event.key) : undefined);
/** Carries out what an action decided (host commands, then facts). */
function perform(
  context: RpcClientContext,
  out: Effects,
  enqueue: { sendTo: (to: Mailbox<RpcClientSessionHostCommand>, event: RpcClientSessionHostCommand) => void; emit: (fact: RpcClientEmitted) => void },
): void {
  for (const c of out.commands) enqueue.sendTo(context.host, c);
  for (const f of out.facts) enqueue.emit(f);
}

const stoppedError = () => new RpcClientStopped('the rpc client is stopping');

/** The pool chart (see the module comment). */
export const rpcClientMachine = setup({
  types: {
    context: {} as RpcClientContext,
    events: {} as RpcClientEvent,
    input: {} as RpcClientInput,
    emitted: {} as RpcClientEmitted,
  },
  actors: {
    clientSessionHost: callbackActor<RpcClientSessionHostCommand, HostInput<typeof rpcClientSessionMachine>, RpcClientSessionCrashed>(
      notProvided('clientSessionHost', 'rpc-client.logic.ts'),
    ),
  },
  delays: {
    stopTimeout: DEFAULT_RPC_CLIENT_CONFIG.stopTimeoutMs,
  },
  guards: {
    /** The call settled before it was taken (cancelled): nothing to do. */
    callSettled: ({ event }) => event.type === 'rpc-client.call' && event.call.done,
    idleSession: ({ context, event }) => (poolOfCall(context, event)?.idle.length ?? 0) > 0,
    mayOpenSession: ({ context, event }) => (poolOfCall(context, event)?.sessions.size ?? Infinity) < maxSessions(context),
    /** A call waits in the pool of the session that is idle. */
    callWaiting: ({ context, event }) => poolOfSession(context, event)?.queue.hasWaiting() === true,
    /** The session never opened and was its pool's last: the waiting calls cannot be made. */
    lastOpenFailed: ({ context, event }) => {
      if (event.type !== 'rpc-client-session.ended' || event.established) return false;
      const pool = poolOfSession(context, event);
      return pool !== undefined && pool.sessions.size === 1;
    },
    /** The session broke, and calls wait (its own unstarted one included) with no session left to make them. */
    replacementNeeded: ({ context, event }) => {
      if (event.type !== 'rpc-client-session.ended' || !event.established) return false;
      const pool = poolOfSession(context, event);
      if (!pool || pool.sessions.size - 1 >= maxSessions(context)) return false;
      const otherIdle = pool.idle.some((k) => k !== event.key);
      return !otherIdle && (pool.queue.hasWaiting() || context.pools.unstarted(event.key) !== undefined);
    },
    allEnded: ({ context }) => context.pools.sessions === 0,
  },
  actions: {
    /** The call goes to the pool's most recently idle session. */
    leaseIdle: enqueueActions(({ context, event, enqueue }) => {
      const pool = poolOfCall(context, event);
      if (!pool || event.type !== 'rpc-client.call') return;
      const key = context.pools.lease(pool, event.call);
      if (key !== undefined) enqueue.sendTo(context.host, { type: 'host.send', key, event: { type: 'rpc-client-session.call', call: event.call } });
    }),
    queueCall: ({ context, event }) => {
      if (event.type === 'rpc-client.call') poolOfCall(context, event)?.queue.push(event.call);
    },
    /** A new session for the call's peer and protocol (it reports idle once accepted). */
    openSession: enqueueActions(({ context, event, enqueue, self }) => {
      const pool = poolOfCall(context, event);
      if (!pool) return;
      const out = effects();
      startSession(context, pool, self, out);
      perform(context, out, enqueue);
    }),
    /** The idle session takes the next waiting call. */
    dispatchNext: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'rpc-client-session.idle') return;
      const call = poolOfSession(context, event)?.queue.next();
      if (!call) return void context.pools.idle(event.key);
      context.pools.busy(event.key, call);
      enqueue.sendTo(context.host, { type: 'host.send', key: event.key, event: { type: 'rpc-client-session.call', call } });
    }),
    markIdle: ({ context, event }) => {
      if (event.type === 'rpc-client-session.idle') context.pools.idle(event.key);
    },
    /** A call that reached a session no longer idle waits again, first in line. */
    requeueCall: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'rpc-client-session.bounced') return;
      // No longer the session's: when it ends, the call is not put back a second time.
      context.pools.returned(event.key, event.call);
      if (event.call.done) return;
      const pool = context.pools.poolOf(event.key);
      if (!pool) return event.call.fail(new RpcClientStopped('the rpc session ended before the call was made'));
      pool.queue.push(event.call, true);
      const out = effects();
      dispatchWaiting(context, pool, out);
      perform(context, out, enqueue);
    }),
    forgetSession: enqueueActions(({ context, event, enqueue }) => {
      const out = effects();
      context.pools.tidy(forget(context, event, out));
      perform(context, out, enqueue);
    }),
    /** The pool's last session never opened: its waiting calls fail with why. */
    forgetAndFail: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'rpc-client-session.ended') return;
      const out = effects();
      const pool = forget(context, event, out);
      perform(context, out, enqueue);
      const error = event.error ?? { name: 'RpcSessionClosed', message: 'the rpc session ended before it opened', kind: 'transport' as const };
      const reason = event.rejectReason;
      pool?.queue.failAll(() => (reason !== undefined ? new RpcSessionRejected(reason) : new RpcOpenFailed(error)));
      context.pools.tidy(pool);
    }),
    /** A broken session is replaced: calls wait for it. */
    forgetAndReplace: enqueueActions(({ context, event, enqueue, self }) => {
      const out = effects();
      const pool = forget(context, event, out);
      if (pool) startSession(context, pool, self, out);
      perform(context, out, enqueue);
    }),
    /** A peer's violation goes to the connection manager, which has connectivity ban it. */
    reportViolation: enqueueActions(({ event, enqueue, system }) => {
      if (event.type !== 'rpc-client.violation') return;
      const cm = component(system, 'connectionManager');
      if (cm) enqueue.sendTo(cm, { type: 'peer.misbehaved', publicKey: event.publicKey, error: event.error });
    }),
    publishCrash: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'rpc-client-session.crashed') enqueue.emit({ type: 'rpc-client.session-crashed', error: event.error });
    }),
    failCall: ({ event }) => {
      if (event.type === 'rpc-client.call' || event.type === 'rpc-client-session.bounced') event.call.fail(stoppedError());
    },
    closeSessions: enqueueActions(({ context, enqueue }) => {
      for (const key of context.pools.sessionKeys()) enqueue.sendTo(context.host, { type: 'host.send', key, event: { type: 'rpc-client-session.close' } });
    }),
    failAllWaiting: ({ context }) => {
      for (const pool of context.pools.pools()) pool.queue.failAll(stoppedError);
    },
  },
}).createMachine({
  id: 'rpcClient',
  context: ({ input, spawn }) => {
    const directory = new HostDirectory<Actor<typeof rpcClientSessionMachine>>();
    return { input, pools: new ClientPools(), directory, host: spawn('clientSessionHost', { id: 'rpcClientSessions', input: { directory } }) };
  },
  initial: 'running',
  on: {
    'rpc-client.violation': { actions: 'reportViolation' },
    'rpc-client-session.crashed': { actions: ['publishCrash', 'forgetSession'] },
  },
  states: {
    running: {
      description: 'Calls go to idle sessions; sessions open lazily up to the limit per peer and service.',
      on: {
        'rpc-client.call': [
          { guard: 'callSettled' },
          { guard: 'idleSession', actions: 'leaseIdle' },
          { guard: 'mayOpenSession', actions: ['queueCall', 'openSession'] },
          { actions: 'queueCall' },
        ],
        'rpc-client-session.idle': [{ guard: 'callWaiting', actions: 'dispatchNext' }, { actions: 'markIdle' }],
        'rpc-client-session.bounced': { actions: 'requeueCall' },
        'rpc-client-session.ended': [
          { guard: 'lastOpenFailed', actions: 'forgetAndFail' },
          { guard: 'replacementNeeded', actions: 'forgetAndReplace' },
          { actions: 'forgetSession' },
        ],
        'rpc-client.stop': { target: 'stopping' },
      },
    },
    stopping: {
      description: 'Every session is told to close and the waiting calls fail; stopped once all sessions ended, or after the stop timeout.',
      entry: ['closeSessions', 'failAllWaiting'],
      always: { guard: 'allEnded', target: 'stopped' },
      on: {
        'rpc-client.call': { actions: 'failCall' },
        'rpc-client-session.bounced': { actions: 'failCall' },
        'rpc-client-session.ended': { actions: ['forgetSession', 'failAllWaiting'] },
      },
      after: { stopTimeout: { target: 'stopped' } },
    },
    stopped: { type: 'final' },
  },
});

/**
 * The chart's answer to `rpc-client.call` when it is known without an event: while `running`,
 * a call whose pool has its most sessions and none idle waits in the pool's queue (the last
 * branch of `rpc-client.call`; the sessions take it as their calls end). True when the call was
 * queued so; false when it must go to the pool as an event (every other branch: a new pool, an
 * idle session, room for a session, a settled call, a pool not running). The calls of a busy
 * peer cost the pool's mailbox nothing.
 */
export function queueBehindBusySessions(snapshot: SnapshotFrom<typeof rpcClientMachine>, publicKey: PublicKey, protocol: string, call: RpcClientCall): boolean {
  if (snapshot.status !== 'active' || snapshot.value !== 'running' || call.done) return false;
  const context = snapshot.context;
  const pool = context.pools.existing(publicKey, protocol);
  if (pool === undefined || pool.idle.length > 0 || pool.sessions.size < maxSessions(context)) return false;
  pool.queue.push(call);
  return true;
}

/** What an action does to the host and publishes. */
interface Effects {
  commands: RpcClientSessionHostCommand[];
  facts: RpcClientEmitted[];
}

/** A new session for `pool` (started in the host). */
function startSession(context: RpcClientContext, pool: PeerPool, self: Mailbox<RpcClientSessionReport>, out: Effects): void {
  const { key, n } = context.pools.addSession(pool);
  out.commands.push({
    type: 'host.start',
    key,
    id: clientSessionActorId(pool.publicKey, n),
    input: {
      key,
      publicKey: pool.publicKey,
      protocol: pool.protocol,
      queue: pool.queue,
      owner: self,
      now: context.input.now,
      idleTimeoutMs: context.input.idleTimeoutMs ?? DEFAULT_RPC_CLIENT_CONFIG.idleTimeoutMs,
      ...context.input.session,
    },
  });
  out.facts.push({ type: 'rpc-client.session-opening', publicKey: pool.publicKey, protocol: pool.protocol, sessions: pool.sessions.size });
}

/** Waiting calls go to the pool's idle sessions. */
function dispatchWaiting(context: RpcClientContext, pool: PeerPool, out: Effects): void {
  while (pool.idle.length > 0) {
    const call = pool.queue.next();
    if (!call) return;
    const key = context.pools.lease(pool, call)!;
    out.commands.push({ type: 'host.send', key, event: { type: 'rpc-client-session.call', call } });
  }
}

/**
 * The session that ended (or crashed) leaves its pool and the host lets it go; a call it had not
 * started goes to an idle session if there is one (else it waits, first in line).
 */
function forget(context: RpcClientContext, event: RpcClientEvent, out: Effects): PeerPool | undefined {
  if (event.type !== 'rpc-client-session.ended' && event.type !== 'rpc-client-session.crashed') return undefined;
  if (event.type === 'rpc-client-session.crashed' && !event.hosted) return undefined;
  if (event.type === 'rpc-client-session.ended') out.commands.push({ type: 'host.release', key: event.key });
  const pool = context.pools.forget(event.key);
  if (!pool) return undefined;
  const established = event.type === 'rpc-client-session.ended' ? event.established : false;
  out.facts.push({ type: 'rpc-client.session-closed', publicKey: pool.publicKey, protocol: pool.protocol, established, error: event.error });
  dispatchWaiting(context, pool, out);
  return pool;
}

const effects = (): Effects => ({ commands: [], facts: [] });
