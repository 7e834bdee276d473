/** The RPC server's real implementations: the host of its session actors. */
import type { ActorRefFrom } from 'xstate';
import { actorHost } from '../host.js';
import { rpcSessionLogic } from '../rpc-session/rpc-session.logic.js';
import type { RpcSessionCrashed } from './rpc-server.events.js';
import { rpcServerMachine } from './rpc-server.machine.js';

/**
 * Runs the session actors (`actors/host.ts`). A crash of one is reported as
 * `rpc-session.crashed`; when the host stops with the server, each session still running ends
 * at once (`rpc-session.abort`: its substream is reset).
 */
export const sessionHost = actorHost(rpcSessionLogic, {
  onHostStop: { type: 'rpc-session.abort' },
  crashed: (key, err, hosted): RpcSessionCrashed => ({ type: 'rpc-session.crashed', key, hosted, error: { name: 'RpcSessionCrashed', message: String(err), kind: 'internal' } }),
});

/** The RPC server machine with its real session host. */
export const rpcServerLogic = rpcServerMachine.provide({ actors: { sessionHost } });
/** An RPC server actor (the node's `rpcServer` component). */
export type RpcServerRef = ActorRefFrom<typeof rpcServerLogic>;
