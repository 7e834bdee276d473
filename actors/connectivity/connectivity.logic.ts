/**
 * The connectivity actor's real implementation (the watcher of the connection manager's facts)
 * and `waitForConnectivity`.
 */
import { fromCallback, type Actor, type AnyActorRef } from 'xstate';
import { startObserved } from '../start.js';
import { TimeoutError } from '../../core/errors.js';
import { connectivityMachine, type ConnectivityInput } from './connectivity.machine.js';

/** Forwards `peer.connected`, `peer.disconnected` and `peer.violation` of the connection manager. */
export const watchConnectionManager = fromCallback<{ type: 'never' }, AnyActorRef>(({ input, sendBack }) => {
  const subs = [
    input.on('peer.connected', (e: { publicKey: Uint8Array }) => sendBack({ type: 'peer.connected', publicKey: e.publicKey })),
    input.on('peer.disconnected', (e: { publicKey: Uint8Array }) => sendBack({ type: 'peer.disconnected', publicKey: e.publicKey })),
    input.on('peer.violation', (e: { publicKey: Uint8Array; error: unknown }) => sendBack({ type: 'peer.violation', publicKey: e.publicKey, error: e.error })),
  ];
  return () => subs.forEach((s) => s.unsubscribe());
});

/** The connectivity machine with its real watcher. */
export const connectivityLogic = connectivityMachine.provide({ actors: { watchConnectionManager } });
/** A running connectivity actor. */
export type ConnectivityActor = Actor<typeof connectivityLogic>;

/** Starts the connectivity actor (`systemId: connectivity`), observed for errors. */
export function startConnectivity(input: ConnectivityInput, onError?: (err: unknown) => void): ConnectivityActor {
  return startObserved(connectivityLogic, { input, systemId: 'connectivity' }, 'connectivity', onError);
}

/** The node did not come online in time. */
export class ConnectivityTimeout extends TimeoutError {}

/** Resolves when the node is online (at least `minConnectivity` connections); rejects after `timeoutMs`. */
export function waitForConnectivity(actor: Pick<ConnectivityActor, 'getSnapshot' | 'subscribe'>, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const online = () => actor.getSnapshot().matches({ status: 'online' });
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
