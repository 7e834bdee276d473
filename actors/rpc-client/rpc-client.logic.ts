/** The RPC client pool's real implementations: the host of its session actors. */
import type { ActorRefFrom } from 'xstate';
import { actorHost } from '../host.js';
import { rpcClientSessionLogic } from '../rpc-client-session/rpc-client-session.logic.js';
import type { RpcClientSessionCrashed } from './rpc-client.events.js';
import { rpcClientMachine } from './rpc-client.machine.js';

/**
 * Runs the client sessions (`actors/host.ts`). A crash of one is reported as
 * `rpc-client-session.crashed`; when the host stops with the pool, each session still running
 * ends at once (`rpc-client-session.abort`: a call in flight fails, its substream is reset).
 */
export const clientSessionHost = actorHost(rpcClientSessionLogic, {
  onHostStop: { type: 'rpc-client-session.abort' },
  crashed: (key, err, hosted): RpcClientSessionCrashed => ({ type: 'rpc-client-session.crashed', key, hosted, error: { name: 'RpcClientSessionCrashed', message: String(err), kind: 'internal' } }),
});

/** The pool machine with its real session host. */
export const rpcClientLogic = rpcClientMachine.provide({ actors: { clientSessionHost } });
/** An RPC client pool actor (the node's `rpcClient` component). */
export type RpcClientRef = ActorRefFrom<typeof rpcClientLogic>;
