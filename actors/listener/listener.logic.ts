/**
 * The listener's real implementations: opening listeners, the bounded accept-and-upgrade loop,
 * closing.
 */
import { setMaxListeners } from 'node:events';
import { fromPromise, type ActorRefFrom } from 'xstate';
import { AbortedError, toPlainError } from '../../core/errors.js';
import { PeerBanned } from '../../channels/errors.js';
import { PeerConnection, upgradeInbound } from '../../channels/upgrade.js';
import { IdentityInvalid } from '../../protocols/identity/index.js';
import type { TransportConnection, TransportListener } from '../../transports/transport.js';
import { callbackActor } from '../mailbox.js';
import type { AcceptLoopEvent, AcceptReport } from './listener.events.js';
import { listenerMachine, type AcceptLoopInput, type ListenerInput } from './listener.machine.js';


/** The IP of an inbound connection's remote address, when it has one. */
function remoteIp(c: TransportConnection): string | undefined {
  const first = c.remoteAddress?.getComponents()[0];
  return first && (first.name === 'ip4' || first.name === 'ip6') ? first.value : undefined;
}

/** Opens a transport listener on every endpoint; closes those opened when one fails or the actor stops. */
export const openListeners = fromPromise<TransportListener[], ListenerInput>(async ({ input, signal }) => {
  const opened: TransportListener[] = [];
  try {
    for (const { transport, address } of input.endpoints) {
      opened.push(await transport.listen(address));
      // Stopped while opening: nobody will close these listeners later, so close them now.
      if (signal.aborted) throw new AbortedError('the listener was stopped while opening');
    }
    return opened;
  } catch (err) {
    await Promise.all(opened.map((l) => l.close()));
    throw err;
  }
});

/** Closes every transport listener. */
export const closeListeners = fromPromise<void, TransportListener[]>(async ({ input }) => {
  await Promise.all(input.map((l) => l.close()));
});

/**
 * Takes connections from every listener. At most `maxConcurrentUpgrades` run at once; a socket
 * beyond that is closed at once (reported `busy`), so silent or slow sockets cost a bounded
 * number of slots, each freed by the time-to-first-byte and handshake timeouts.
 */
export const acceptLoop = callbackActor<AcceptLoopEvent, AcceptLoopInput, AcceptReport>(({ input, sendBack }) => {
  const config = input.input;
  const max = config.maxConcurrentUpgrades ?? 32;
  const stop = new AbortController();
  // Every upgrade in flight listens on this signal (and removes its listener when done): up to
  // `max` at once is expected, not a leak, so Node is told not to warn below that.
  setMaxListeners(max + 1, stop.signal);
  let active = 0;
  const send = (event: AcceptReport) => {
    if (!stop.signal.aborted) sendBack(event);
  };
  const handle = async (c: TransportConnection) => {
    const remote = c.remoteAddress === undefined ? undefined : String(c.remoteAddress);
    c.stream.on('error', () => {});
    if (active >= max) {
      c.stream.destroy();
      send({ type: 'inbound.rejected', reason: 'busy', remoteAddress: remote });
      return;
    }
    active++;
    try {
      const result = await upgradeInbound(c.stream, config.upgrade, { signal: stop.signal });
      if (!(result instanceof PeerConnection)) {
        send({ type: 'inbound.rejected', reason: 'liveness', remoteAddress: remote });
        // Liveness is served only on sockets a TCP listener accepted (never through an onion
        // listener or a proxy: those arrive from 127.0.0.1 and would pass the allow-list).
        if (config.liveness && c.via === 'tcp') await config.liveness.serve(result.raw, remoteIp(c), c.via);
        else result.raw.destroy();
        return;
      }
      if (config.isBanned?.(result.peer.publicKey)) {
        result.muxer.abort();
        send({ type: 'inbound.rejected', reason: 'banned', remoteAddress: remote });
        return;
      }
      if (stop.signal.aborted) {
        result.muxer.abort();
        return;
      }
      send({ type: 'inbound.upgraded', connection: result });
    } catch (err) {
      c.stream.destroy();
      const publicKey = err instanceof IdentityInvalid ? err.publicKey : undefined;
      // A banned peer is recognised by its Noise static key, before anything of ours was sent.
      const reason = err instanceof PeerBanned ? 'banned' : 'upgrade-failed';
      send({ type: 'inbound.rejected', reason, remoteAddress: remote, error: toPlainError(err), ...(publicKey ? { publicKey } : {}) });
    } finally {
      active--;
    }
  };
  for (const listener of input.listeners) {
    void (async () => {
      for await (const c of listener) {
        if (stop.signal.aborted) {
          c.stream.destroy();
          continue;
        }
        void handle(c);
      }
    })();
  }
  return () => stop.abort();
});

/** The machine with its real implementations. */
export const listenerLogic = listenerMachine.provide({ actors: { openListeners, acceptLoop, closeListeners } });

/** A listener actor (the node's `listener` component). */
export type ListenerRef = ActorRefFrom<typeof listenerLogic>;
