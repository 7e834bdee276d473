/**
 * The RPC server's state chart (pure; the session host is in `rpc-server.logic.ts`). The node's
 * component `rpcServer`: running -> stopping -> stopped.
 *
 * running: each substream a peer opened for an RPC protocol (handed over by the protocol's
 * handler, never its bytes) gets a session actor `rpcSession:<NodeId hex>:<n>` in the session
 * host, unless the peer already has `maxSessionsPerPeer` substreams in their handshake (or all
 * peers `maxSessions`): those are reset at once (a silent opener holds no actor for 15 s each).
 * A session whose client offered version 1 asks to be admitted: PROTOCOL_NOT_SUPPORTED when no
 * service is behind its id, NO_SERVER_SESSIONS_AVAILABLE at `maxSessions` admitted sessions in
 * all or `maxSessionsPerPeer` for its peer, accepted otherwise; an admitted session counts until
 * it is over (PROTOCOL.md section 8). A peer's violation a session reports goes to the connection
 * manager (`peer.misbehaved`: connectivity bans it) and is published.
 * stopping: every session is told to close (between calls at once, after the call in flight
 * otherwise); once all have ended, or after the stop timeout, stopped.
 *
 * The sessions run in a host (`actors/host.ts`), not as spawned children, so the n-th costs what
 * the first did.
 */
import { enqueueActions, setup, type Actor } from 'xstate';
import { toHex } from '../../core/bytes.js';
import type { NodeId, PublicKey } from '../../core/keys.js';
import { PMap } from '../../core/pmap.js';
import { MAX_SERVER_SESSIONS, MAX_SERVER_SESSIONS_PER_PEER } from '../../protocols/rpc/index.js';
import { HostDirectory, type HostCommandOf, type HostInput } from '../host.js';
import { callbackActor, type Mailbox } from '../mailbox.js';
import { notProvided } from '../not-provided.js';
import { rpcSessionMachine, sessionActorId, type RpcSessionTimeouts } from '../rpc-session/rpc-session.machine.js';
import { component } from '../system.js';
import type { RpcServerEmitted, RpcServerEvent, RpcSessionCrashed } from './rpc-server.events.js';
import type { RpcServiceTable, ServedRpcService } from './services.js';

/** Defaults of the RPC server (section 8's limits). */
export const DEFAULT_RPC_SERVER_CONFIG = Object.freeze({
  /** Sessions admitted at once, all peers and services together (section 8: 100). */
  maxSessions: MAX_SERVER_SESSIONS,
  /** Sessions admitted at once per peer public key (section 8: 10). */
  maxSessionsPerPeer: MAX_SERVER_SESSIONS_PER_PEER,
  /** Stopping waits this long at most for the sessions to end (ms). */
  stopTimeoutMs: 5_000,
});

/** What the RPC server is started with. */
export interface RpcServerInput {
  /** The services served (shared with the node, which may add some while running). */
  services: RpcServiceTable;
  /** The node's clock (ms). */
  now: () => number;
  maxSessions?: number;
  maxSessionsPerPeer?: number;
  /** The sessions' waits (section 8's by default). */
  session?: RpcSessionTimeouts;
}

/** One substream the server runs a session for. */
interface SessionRecord {
  publicKey: PublicKey;
  nodeId: NodeId;
  /** The peer's public key hex. */
  peer: string;
  protocol: string;
  service: ServedRpcService | undefined;
  /** Counted against the limits (from the accepting reply until the session is over). */
  admitted: boolean;
}

/** What the session host takes. */
export type RpcSessionHostCommand = HostCommandOf<typeof rpcSessionMachine>;

/** The RPC server's context. */
export interface RpcServerContext {
  input: RpcServerInput;
  /** Host key -> the session's record. */
  sessions: PMap<SessionRecord>;
  /** Sessions admitted, in all and by peer hex. */
  admitted: number;
  admittedByPeer: PMap<number>;
  /** Sessions not admitted yet (in their handshake), in all and by peer hex. */
  pending: number;
  pendingByPeer: PMap<number>;
  /** Sessions started (makes keys unique). */
  started: number;
  directory: HostDirectory<Actor<typeof rpcSessionMachine>>;
  host: Mailbox<RpcSessionHostCommand>;
}

const maxSessions = (c: RpcServerContext) => c.input.maxSessions ?? DEFAULT_RPC_SERVER_CONFIG.maxSessions;
const maxPerPeer = (c: RpcServerContext) => c.input.maxSessionsPerPeer ?? DEFAULT_RPC_SERVER_CONFIG.maxSessionsPerPeer;
const bump = (map: PMap<number>, key: string, by: number) => {
  const n = (map.get(key) ?? 0) + by;
  return n <= 0 ? map.delete(key) : map.set(key, n);
};
/** The record of the session an admission request or report comes from. */
const recordOf = (context: RpcServerContext, event: RpcServerEvent) => ('key' in event ? context.sessions.get(event.key) : undefined);

/** The RPC server state chart (see the module comment). */
export const rpcServerMachine = setup({
  types: {
    context: {} as RpcServerContext,
    events: {} as RpcServerEvent,
    input: {} as RpcServerInput,
    emitted: {} as RpcServerEmitted,
  },
  actors: {
    sessionHost: callbackActor<RpcSessionHostCommand, HostInput<typeof rpcSessionMachine>, RpcSessionCrashed>(notProvided('sessionHost', 'rpc-server.logic.ts')),
  },
  delays: {
    stopTimeout: DEFAULT_RPC_SERVER_CONFIG.stopTimeoutMs,
  },
  guards: {
    /** The peer (or all peers) already have as many substreams in their handshake as sessions allowed. */
    tooManyHandshakes: ({ context, event }) => {
      if (event.type !== 'rpc-server.accept') return false;
      return context.pending >= maxSessions(context) || (context.pendingByPeer.get(toHex(event.peer.publicKey)) ?? 0) >= maxPerPeer(context);
    },
    /** The session's admission request, with no service behind its id. */
    noService: ({ context, event }) => {
      const r = recordOf(context, event);
      return r !== undefined && (r.service === undefined || context.input.services.get(r.protocol) !== r.service);
    },
    /** Admitting the session would go beyond a limit (in all, or its peer's). */
    noSessionsLeft: ({ context, event }) => {
      const r = recordOf(context, event);
      return r !== undefined && (context.admitted >= maxSessions(context) || (context.admittedByPeer.get(r.peer) ?? 0) >= maxPerPeer(context));
    },
    /** An admission request of a session still known (it may have ended meanwhile). */
    known: ({ context, event }) => recordOf(context, event) !== undefined,
    allEnded: ({ context }) => context.sessions.size === 0,
  },
  actions: {
    /** The substream gets a session actor in the host (it reads the handshake). */
    startSession: enqueueActions(({ context, event, enqueue, self }) => {
      if (event.type !== 'rpc-server.accept') return;
      const n = context.started + 1;
      const key = String(n);
      const peer = toHex(event.peer.publicKey);
      const service = context.input.services.get(event.protocol);
      const record: SessionRecord = { publicKey: event.peer.publicKey, nodeId: event.peer.nodeId, peer, protocol: event.protocol, service, admitted: false };
      enqueue.assign({
        started: n,
        sessions: context.sessions.set(key, record),
        pending: context.pending + 1,
        pendingByPeer: bump(context.pendingByPeer, peer, 1),
      });
      enqueue.sendTo(context.host, {
        type: 'host.start',
        key,
        id: sessionActorId(event.peer, n),
        input: { key, stream: event.stream, protocol: event.protocol, peer: event.peer, service, owner: self, now: context.input.now, ...context.input.session },
      });
    }),
    /** Too many handshakes from this peer: the substream is reset before anything is read. */
    refuseStream: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'rpc-server.accept') return;
      event.stream.destroy();
      enqueue.emit({ type: 'rpc-server.session-refused', publicKey: event.peer.publicKey, protocol: event.protocol, reason: 'handshakes' });
    }),
    /** The session counts from now (its accepting reply follows). */
    admitSession: enqueueActions(({ context, event, enqueue }) => {
      const r = recordOf(context, event);
      if (!r || event.type !== 'rpc-server.admit') return;
      const admittedByPeer = bump(context.admittedByPeer, r.peer, 1);
      enqueue.assign({
        sessions: context.sessions.set(event.key, { ...r, admitted: true }),
        admitted: context.admitted + 1,
        admittedByPeer,
        pending: context.pending - 1,
        pendingByPeer: bump(context.pendingByPeer, r.peer, -1),
      });
      enqueue.sendTo(context.host, { type: 'host.send', key: event.key, event: { type: 'rpc-session.admitted', decision: 'accept' } });
      enqueue.emit({ type: 'rpc-server.session-opened', publicKey: r.publicKey, protocol: r.protocol, sessions: admittedByPeer.get(r.peer)! });
    }),
    refuseNoService: enqueueActions(({ context, event, enqueue }) => {
      const r = recordOf(context, event);
      if (!r || event.type !== 'rpc-server.admit') return;
      enqueue.sendTo(context.host, { type: 'host.send', key: event.key, event: { type: 'rpc-session.admitted', decision: 'no-service' } });
      enqueue.emit({ type: 'rpc-server.session-refused', publicKey: r.publicKey, protocol: r.protocol, reason: 'no-service' });
    }),
    refuseNoSessions: enqueueActions(({ context, event, enqueue }) => {
      const r = recordOf(context, event);
      if (!r || event.type !== 'rpc-server.admit') return;
      enqueue.sendTo(context.host, { type: 'host.send', key: event.key, event: { type: 'rpc-session.admitted', decision: 'no-sessions' } });
      enqueue.emit({ type: 'rpc-server.session-refused', publicKey: r.publicKey, protocol: r.protocol, reason: 'no-sessions' });
    }),
    /** The session is over: its slot (or its handshake's) is free, and the host lets it go. */
    forgetSession: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'rpc-session.ended' && event.type !== 'rpc-session.crashed') return;
      if (event.type === 'rpc-session.crashed' && !event.hosted) return; // ended already
      const r = context.sessions.get(event.key);
      if (event.type === 'rpc-session.ended') enqueue.sendTo(context.host, { type: 'host.release', key: event.key });
      if (!r) return;
      enqueue.assign({
        sessions: context.sessions.delete(event.key),
        ...(r.admitted
          ? { admitted: context.admitted - 1, admittedByPeer: bump(context.admittedByPeer, r.peer, -1) }
          : { pending: context.pending - 1, pendingByPeer: bump(context.pendingByPeer, r.peer, -1) }),
      });
      enqueue.emit({ type: 'rpc-server.session-closed', publicKey: r.publicKey, protocol: r.protocol, error: event.error });
    }),
    publishCrash: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'rpc-session.crashed') enqueue.emit({ type: 'rpc-server.session-crashed', error: event.error });
    }),
    /** A peer's violation goes to the connection manager, which has connectivity ban it. */
    reportViolation: enqueueActions(({ event, enqueue, system }) => {
      if (event.type !== 'rpc-server.violation') return;
      const cm = component(system, 'connectionManager');
      if (cm) enqueue.sendTo(cm, { type: 'peer.misbehaved', publicKey: event.publicKey, error: event.error });
    }),
    /** Every session is told to close (each reports its end). */
    closeSessions: enqueueActions(({ context, enqueue }) => {
      for (const key of context.sessions.keys()) enqueue.sendTo(context.host, { type: 'host.send', key, event: { type: 'rpc-session.close' } });
    }),
  },
}).createMachine({
  id: 'rpcServer',
  context: ({ input, spawn }) => {
    const directory = new HostDirectory<Actor<typeof rpcSessionMachine>>();
    return {
      input,
      sessions: PMap.empty<SessionRecord>(),
      admitted: 0,
      admittedByPeer: PMap.empty<number>(),
      pending: 0,
      pendingByPeer: PMap.empty<number>(),
      started: 0,
      directory,
      host: spawn('sessionHost', { id: 'rpcSessions', input: { directory } }),
    };
  },
  initial: 'running',
  on: {
    'rpc-session.ended': { actions: 'forgetSession' },
    'rpc-session.crashed': { actions: ['publishCrash', 'forgetSession'] },
    'rpc-server.violation': { actions: 'reportViolation' },
  },
  states: {
    running: {
      description: 'A session per RPC substream; admission by the limits (100 in all, 10 per peer).',
      on: {
        'rpc-server.accept': [{ guard: 'tooManyHandshakes', actions: 'refuseStream' }, { actions: 'startSession' }],
        'rpc-server.admit': [
          { guard: 'noService', actions: 'refuseNoService' },
          { guard: 'noSessionsLeft', actions: 'refuseNoSessions' },
          { guard: 'known', actions: 'admitSession' },
        ],
        'rpc-server.stop': { target: 'stopping' },
      },
    },
    stopping: {
      description: 'Every session is told to close; stopped once all have ended, or after the stop timeout.',
      entry: 'closeSessions',
      always: { guard: 'allEnded', target: 'stopped' },
      on: {
        'rpc-server.accept': { actions: 'refuseStream' },
        'rpc-server.admit': { actions: 'refuseNoSessions' },
      },
      after: { stopTimeout: { target: 'stopped' } },
    },
    stopped: { type: 'final' },
  },
});
