/**
 * Request/reply over an actor's mailbox for code that is not an actor: send a command made with
 * a fresh `requestId`, wait for the emitted reply carrying it, and give up after `timeoutMs`.
 * The command is typed against what the actor takes and the reply against what it emits.
 *
 * One subscription per actor and reply type routes every reply to its waiter by id, so many
 * requests in flight cost O(1) each (a subscription per request made each reply visit them all).
 */
import type { ActorRef, EventObject } from 'xstate';
import { TimeoutError } from '../core/errors.js';

let next = 0;

/** A request id unique in this process. */
export function newRequestId(prefix: string): string {
  return `${prefix}-${++next}`;
}

type Waiter = (reply: EventObject) => void;
/** Actor -> reply type -> request id -> waiter. */
const routers = new WeakMap<object, Map<string, Map<string, Waiter>>>();

function waitersFor(actor: ActorRef<any, any, any>, replyType: string): Map<string, Waiter> {
  let byType = routers.get(actor);
  if (!byType) routers.set(actor, (byType = new Map()));
  let waiters = byType.get(replyType);
  if (!waiters) {
    const map = new Map<string, Waiter>();
    waiters = map;
    byType.set(replyType, map);
    actor.on(replyType, (reply) => {
      const id: unknown = (reply as { requestId?: unknown }).requestId;
      if (typeof id === 'string') map.get(id)?.(reply);
    });
  }
  return waiters;
}

/** Asking an actor: {@link ask}. */
export interface Asking<TEvent extends EventObject, TEmitted extends EventObject> {
  /**
   * Sends `make(requestId)` (a new id) and resolves with the reply of type `replyType` emitted
   * for that id; rejects with a {@link TimeoutError} after `timeoutMs`.
   */
  reply<K extends TEmitted['type']>(replyType: K, make: (requestId: string) => TEvent, timeoutMs: number): Promise<Extract<TEmitted, { type: K }>>;
}

/** Request/reply with `actor`, typed by what it takes and what it emits (see the module comment). */
export function ask<TEvent extends EventObject, TEmitted extends EventObject>(actor: ActorRef<any, TEvent, TEmitted>): Asking<TEvent, TEmitted> {
  return {
    reply: (replyType, make, timeoutMs) => {
      const requestId = newRequestId(replyType);
      const command = make(requestId);
      const waiters = waitersFor(actor, replyType);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(requestId);
          reject(new TimeoutError(`no reply to ${command.type} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.set(requestId, (reply) => {
          clearTimeout(timer);
          waiters.delete(requestId);
          // The router subscribed to `replyType` only: this is that reply (TypeScript cannot follow the subscription).
          resolve(reply as never);
        });
        actor.send(command);
      });
    },
  };
}
