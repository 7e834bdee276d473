/**
 * Recording stand-ins whose events a test can wait for (bounded) without polling: the wait ends
 * as the event arrives. `eventLog` records what is pushed to it (an actor's emitted facts);
 * `probe` is a stand-in mailbox (a callback actor) that records what it is sent.
 */
import { fromCallback } from 'xstate';

/** Events recorded in arrival order, and a bounded wait for one of them. */
export interface EventLog<E extends { type: string }> {
  seen: E[];
  push(e: E): void;
  /** The first event seen (or, failing that, the next one) that satisfies `match`; fails after `ms`. */
  next(what: string, match: (e: E) => boolean, ms?: number): Promise<E>;
}

/** Makes an event log (see the module comment). */
export function eventLog<E extends { type: string }>(): EventLog<E> {
  const seen: E[] = [];
  const waiting = new Set<{ match: (e: E) => boolean; done: (e: E) => void }>();
  return {
    seen,
    push: (e) => {
      seen.push(e);
      for (const w of waiting) if (w.match(e)) w.done(e);
    },
    next: (what, match, ms = 8000) => {
      const found = seen.find(match);
      if (found) return Promise.resolve(found);
      return new Promise<E>((resolve, reject) => {
        const w = {
          match,
          done: (e: E) => {
            clearTimeout(timer);
            waiting.delete(w);
            resolve(e);
          },
        };
        const timer = setTimeout(() => {
          waiting.delete(w);
          reject(new Error(`${what}: not within ${ms} ms`));
        }, ms);
        waiting.add(w);
      });
    },
  };
}

/** A stand-in mailbox that records every event it is sent in an {@link EventLog}. */
export function probe<E extends { type: string } = { type: string }>(): EventLog<E> & { logic: ReturnType<typeof fromCallback<E>> } {
  const log = eventLog<E>();
  return { ...log, logic: fromCallback<E>(({ receive }) => receive((e) => log.push(e))) };
}
