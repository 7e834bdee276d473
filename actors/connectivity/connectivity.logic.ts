/**
 * `waitForConnectivity`, for code that is not an actor: resolves once the connectivity actor
 * reports the node online.
 */
import type { ActorRefFrom } from 'xstate';
import { TimeoutError } from '../../core/errors.js';
import { connectivityMachine } from './connectivity.machine.js';

/** The connectivity machine (it has no effects to provide: it talks to its siblings by message). */
export const connectivityLogic = connectivityMachine;
/** A connectivity actor (the node's `connectivity` component). */
export type ConnectivityRef = ActorRefFrom<typeof connectivityLogic>;

/** The node did not come online in time. */
export class ConnectivityTimeout extends TimeoutError {}

/** Resolves when the node is online (at least `minConnectivity` connections); rejects after `timeoutMs`. */
export function waitForConnectivity(actor: Pick<ConnectivityRef, 'getSnapshot' | 'subscribe'>, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const online = () => actor.getSnapshot().matches({ running: { status: 'online' } });
    if (online()) return resolve();
    const timer = setTimeout(() => {
      sub.unsubscribe();
      reject(new ConnectivityTimeout(`not online within ${timeoutMs} ms`));
    }, timeoutMs);
    const sub = actor.subscribe({
      next: () => {
        if (!online()) return;
        clearTimeout(timer);
        sub.unsubscribe();
        resolve();
      },
      error: () => undefined,
    });
  });
}
