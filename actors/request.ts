/**
 * Request/reply over an actor's mailbox for code that is not an actor: send a command with a
 * fresh `requestId`, wait for the emitted reply carrying it, and give up after `timeoutMs`.
 *
 * One subscription per actor and reply type routes every reply to its waiter by id, so many
 * requests in flight cost O(1) each (a subscription per request made each reply visit them all).
 */
import type { AnyActorRef } from 'xstate';
import { TimeoutError } from '../core/errors.js';

let next = 0;

/** A request id unique in this process. */
export function newRequestId(prefix: string): string {
  return `${prefix}-${++next}`;
}

type Waiter = (reply: { requestId: string }) => void;
const routers = new WeakMap<AnyActorRef, Map<string, Map<string, Waiter>>>();

function waitersFor(actor: AnyActorRef, replyType: string): Map<string, Waiter> {
  let byType = routers.get(actor);
  if (!byType) routers.set(actor, (byType = new Map()));
  let waiters = byType.get(replyType);
  if (!waiters) {
    const map = new Map<string, Waiter>();
    waiters = map;
    byType.set(replyType, map);
    actor.on(replyType, (reply: { requestId: string }) => map.get(reply.requestId)?.(reply));
  }
  return waiters;
}

/** Sends `command` (with a new `requestId`) and resolves with the reply event of type `replyType` for it. */
export function requestReply<R extends { requestId: string }>(
  actor: AnyActorRef,
  replyType: string,
  command: { type: string } & Record<string, unknown>,
  timeoutMs: number,
): Promise<R> {
  const requestId = newRequestId(command.type);
  const waiters = waitersFor(actor, replyType);
  return new Promise<R>((resolve, reject) => {
    const timer = setTimeout(() => {
      waiters.delete(requestId);
      reject(new TimeoutError(`no reply to ${command.type} within ${timeoutMs} ms`));
    }, timeoutMs);
    waiters.set(requestId, (reply) => {
      clearTimeout(timer);
      waiters.delete(requestId);
      resolve(reply as R);
    });
    actor.send({ ...command, requestId });
  });
}
