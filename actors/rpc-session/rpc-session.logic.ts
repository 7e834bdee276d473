/**
 * A server RPC session's real I/O: the data path (`server-link.ts`) run for the session's whole
 * life, taking the session's commands and reporting where the core went.
 */
import type { Actor } from 'xstate';
import { callbackActor } from '../mailbox.js';
import type { SessionIoCommand, SessionIoReport } from './rpc-session.events.js';
import { rpcSessionMachine, type SessionIoInput } from './rpc-session.machine.js';
import { ServerSessionLink } from './server-link.js';

/** Runs the session's data path; its cleanup resets a substream still open. */
export const sessionIo = callbackActor<SessionIoCommand, SessionIoInput, SessionIoReport>(({ input, receive, sendBack }) => {
  const link = new ServerSessionLink(
    {
      stream: input.stream,
      peer: input.peer,
      service: input.service,
      now: input.now,
      stats: input.stats,
      ...(input.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: input.handshakeTimeoutMs }),
      ...(input.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: input.idleTimeoutMs }),
      ...(input.closeTimeoutMs === undefined ? {} : { closeTimeoutMs: input.closeTimeoutMs }),
    },
    sendBack,
  );
  receive((command) => link.command(command));
  link.start();
  return () => link.stop();
});

/** The server session machine with its real I/O. */
export const rpcSessionLogic = rpcSessionMachine.provide({ actors: { sessionIo } });
/** A server session actor. */
export type RpcSessionActor = Actor<typeof rpcSessionLogic>;
