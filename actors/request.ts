/**
 * Request/reply over an actor's mailbox for code that is not an actor: send a command with a
 * fresh `requestId`, wait for the emitted reply carrying it, and give up after `timeoutMs`.
 */
import type { AnyActorRef } from 'xstate';
import { TimeoutError } from '../core/errors.js';

let next = 0;

/** A request id unique in this process. */
export function newRequestId(prefix: string): string {
  return `${prefix}-${++next}`;
}

/** Sends `command` (with a new `requestId`) and resolves with the reply event of type `replyType` for it. */
export function requestReply<R extends { requestId: string }>(
  actor: AnyActorRef,
  replyType: string,
  command: { type: string } & Record<string, unknown>,
  timeoutMs: number,
): Promise<R> {
  const requestId = newRequestId(command.type);
  return new Promise<R>((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.unsubscribe();
      reject(new TimeoutError(`no reply to ${command.type} within ${timeoutMs} ms`));
    }, timeoutMs);
    const sub = actor.on(replyType, (reply: R) => {
      if (reply.requestId !== requestId) return;
      clearTimeout(timer);
      sub.unsubscribe();
      resolve(reply);
    });
    actor.send({ ...command, requestId });
  });
}
