/**
 * A client RPC session's real I/O: the data path (`client-link.ts`) run while the substream is
 * open, taking the session's commands and reporting where the core went.
 */
import type { Actor } from 'xstate';
import { callbackActor } from '../mailbox.js';
import { ClientSessionLink } from './client-link.js';
import type { ClientIoCommand, ClientIoReport } from './rpc-client-session.events.js';
import { rpcClientSessionMachine, type ClientIoInput } from './rpc-client-session.machine.js';

/** Runs the session's data path; its cleanup fails a call still in flight and resets a substream still open. */
export const clientIo = callbackActor<ClientIoCommand, ClientIoInput, ClientIoReport>(({ input, receive, sendBack }) => {
  const { stream, now, queue, stats, handshakeTimeoutMs, pingTimeoutMs, cancelTimeoutMs, closeTimeoutMs } = input;
  const link = new ClientSessionLink(
    {
      stream,
      now,
      queue,
      stats,
      ...(handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs }),
      ...(pingTimeoutMs === undefined ? {} : { pingTimeoutMs }),
      ...(cancelTimeoutMs === undefined ? {} : { cancelTimeoutMs }),
      ...(closeTimeoutMs === undefined ? {} : { closeTimeoutMs }),
    },
    sendBack,
  );
  receive((command) => link.command(command));
  link.start();
  return () => link.stop();
});

/** The client session machine with its real I/O. */
export const rpcClientSessionLogic = rpcClientSessionMachine.provide({ actors: { clientIo } });
/** A client session actor. */
export type RpcClientSessionActor = Actor<typeof rpcClientSessionLogic>;
