/**
 * Starting a root actor the one safe way: its errors are always observed (an unobserved actor
 * error crashes Node), by `onError` or, by default, a line on stderr naming the actor.
 */
import { createActor, type Actor, type ActorOptions, type AnyActorLogic } from 'xstate';

/** Creates, observes and starts a root actor. */
export function startObserved<T extends AnyActorLogic>(logic: T, options: ActorOptions<T>, name: string, onError?: (err: unknown) => void): Actor<T> {
  const actor = createActor(logic, options);
  actor.subscribe({ error: onError ?? ((err) => console.error(`${name} failed:`, err)) });
  actor.start();
  return actor;
}
