/**
 * The listener's real implementations: opening listeners, the bounded accept-and-upgrade loop,
 * closing.
 */
import { setMaxListeners } from 'node:events';
import { fromPromise, type ActorRefFrom } from 'xstate';
import type { Duplex } from 'node:stream';
import { AbortedError, stackless, TcommsError, toPlainError } from '../../core/errors.js';
import { PeerBanned } from '../../channels/errors.js';
import { DEFAULT_TIME_TO_FIRST_BYTE_MS, PeerConnection, TimeToFirstByteExceeded, upgradeInbound } from '../../channels/upgrade.js';
import { Admission, addressGroup, DEFAULT_ADMISSION_LIMITS, UpgradeShed, UpgradeTimeout, type Upgrade } from './admission.js';
import { IdentityInvalid } from '../../protocols/identity/index.js';
import type { TransportConnection, TransportListener } from '../../transports/transport.js';
import { callbackActor } from '../mailbox.js';
import type { AcceptLoopEvent, AcceptReport } from './listener.events.js';
import { DEFAULT_UPGRADE_TIMEOUT_MS, listenerMachine, type AcceptLoopInput, type ListenerInput } from './listener.machine.js';


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

/** Resolves once `stream` has a byte to read (not consumed); rejects on its end, the timeout or the signal (with its reason). */
function firstByte(stream: Duplex, timeoutMs: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  if (stream.readableLength > 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onReadable = () => {
      if (stream.readableLength > 0) done();
    };
    const onEnd = () => done(new TimeToFirstByteExceeded('the connection closed before its first byte'));
    const onAbort = () => done(signal.reason instanceof Error ? signal.reason : new AbortedError('aborted'));
    const timer = setTimeout(() => done(new TimeToFirstByteExceeded(`no wire byte within ${timeoutMs} ms`)), timeoutMs);
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Waits `ms` (a penalty), or less when the signal aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Takes connections from every listener, with fair admission (`admission.ts`): a socket waits
 * for its wire byte and first Noise message without taking an upgrade slot (waiting sockets
 * are bounded, in all and per address, and a newcomer to a full pool sheds the oldest waiting
 * socket of the busiest address: closed and reported 'busy', as a shed upgrade is; addresses
 * are IPs, IPv6 by its /64); an upgrade takes a slot (bounded in all and per address), and when every slot is
 * taken the least advanced (then oldest) upgrade of the busiest address is shed for the
 * newcomer; the whole upgrade, from accept to active, has one deadline; an address whose
 * sockets broke the protocol waits a bounded, expiring delay before its new sockets are read.
 */
export const acceptLoop = callbackActor<AcceptLoopEvent, AcceptLoopInput, AcceptReport>(({ input, sendBack }) => {
  const config = input.input;
  const admission = new Admission({ maxUpgrades: config.maxConcurrentUpgrades ?? DEFAULT_ADMISSION_LIMITS.maxUpgrades, ...config.admission });
  const ttfbMs = config.upgrade.timeToFirstByteMs ?? DEFAULT_TIME_TO_FIRST_BYTE_MS;
  const upgradeMs = config.upgradeTimeoutMs ?? DEFAULT_UPGRADE_TIMEOUT_MS;
  const stop = new AbortController();
  // Every waiting socket and upgrade listens on this signal (and removes its listener when
  // done): up to the admission's bounds at once is expected, not a leak.
  setMaxListeners(admission.limits.maxWaiting + admission.limits.maxUpgrades + 1, stop.signal);
  let unaddressed = 0;
  const send = (event: AcceptReport) => {
    if (!stop.signal.aborted) sendBack(event);
  };
  const handle = async (c: TransportConnection) => {
    const acceptedAt = Date.now();
    const remote = c.remoteAddress === undefined ? undefined : String(c.remoteAddress);
    // Fairness is per IP address (an IPv6 /64 counts as one: `addressGroup`); a socket without
    // one (the memory transport) stands alone. The liveness allow-list gets the real IP.
    const ip = remoteIp(c);
    const address = ip === undefined ? `socket:${++unaddressed}` : addressGroup(ip);
    // Penalties follow an address only where it is the peer's own: sockets from an onion
    // listener or a proxy all come from the proxy's address, and one peer's violations would
    // slow every other peer behind it.
    const penalisable = c.via === undefined || c.via === 'tcp';
    c.stream.on('error', () => {});
    const refuse = (reason: 'busy' | 'upgrade-failed', error?: unknown) => {
      c.stream.destroy();
      send({ type: 'inbound.rejected', reason, remoteAddress: remote, ...(error ? { error: toPlainError(error) } : {}) });
    };
    // Aborted by the deadline, by shedding (waiting or upgrading: `shed`) or by the listener's stop.
    const controller = new AbortController();
    const shed = (why: string) => () => controller.abort(stackless(() => new UpgradeShed(`shed to make room for a newcomer: ${why}`)));
    // A socket is waiting (bounded in all and per address, no upgrade slot) until the peer's
    // first Noise message is in: then `admit` takes its slot. A socket that sends the wire byte
    // and stops holds no slot, so a crowd of them neither sheds each other at the rate they
    // reconnect (each shed a socket set up, closed and reported) nor sheds anyone else. When
    // the pool is full, a newcomer sheds the oldest waiting socket of the busiest address.
    const waiting = admission.startWaiting(address, shed('every waiting place was taken'));
    if (!waiting) return refuse('busy');
    const stopWaiting = () => admission.stopWaiting(waiting);
    const onStop = () => controller.abort(new AbortedError('the listener stopped'));
    stop.signal.addEventListener('abort', onStop, { once: true });
    if (stop.signal.aborted) onStop();
    try {
      await pause(admission.penaltyFor(address, acceptedAt), controller.signal);
      await firstByte(c.stream, ttfbMs, controller.signal);
    } catch (err) {
      stopWaiting();
      stop.signal.removeEventListener('abort', onStop);
      return refuse(err instanceof UpgradeShed ? 'busy' : 'upgrade-failed', err);
    }
    if (controller.signal.aborted) {
      stopWaiting();
      stop.signal.removeEventListener('abort', onStop);
      if (controller.signal.reason instanceof UpgradeShed) return refuse('busy', controller.signal.reason);
      return void c.stream.destroy();
    }
    // Its progress, should a newcomer need its slot: the bytes its peer sent (a TCP socket's count).
    const progress = () => (c.stream as { bytesRead?: number }).bytesRead ?? 0;
    let upgrade: Upgrade | undefined;
    /** Waiting for an upgrade slot failed: refused as busy, as when the slots are full. */
    let slotError: unknown;
    const admit = async (): Promise<void> => {
      try {
        // Its address holds its share of upgrade slots: it waits (still a waiting socket) for
        // one of them to end, within its upgrade deadline.
        if (admission.upgradingFrom(address) >= admission.limits.maxUpgradesPerAddress) {
          const onClose = () => controller.abort(new AbortedError('the connection closed while it waited for an upgrade slot'));
          c.stream.once('close', onClose);
          try {
            while (admission.upgradingFrom(address) >= admission.limits.maxUpgradesPerAddress) await admission.slotFreed(address, controller.signal);
          } finally {
            c.stream.removeListener('close', onClose);
          }
        }
        stopWaiting();
        upgrade = admission.startUpgrade(address, Date.now(), shed('every upgrade slot was taken'), progress);
        if (!upgrade) throw stackless(() => new UpgradeShed('no upgrade slot'));
      } catch (err) {
        slotError = err;
        throw err;
      }
    };
    const deadline = setTimeout(() => controller.abort(new UpgradeTimeout(`not active within ${upgradeMs} ms of its accept`)), Math.max(0, acceptedAt + upgradeMs - Date.now()));
    try {
      const result = await upgradeInbound(c.stream, config.upgrade, { signal: controller.signal, admit });
      if (!(result instanceof PeerConnection)) {
        stopWaiting(); // liveness takes no upgrade slot
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
      // A peer that breaks a protocol later on this connection (a yamux violation, a Ping flood,
      // an invalid message) penalises its address as a failed upgrade does: a fresh identity
      // does not buy it an immediate new connection.
      void result.muxer.closedPromise.then((err) => {
        if (err instanceof TcommsError && err.kind === 'protocol' && penalisable) admission.penalise(address, Date.now());
      });
    } catch (caught) {
      c.stream.destroy();
      // An abort says why: the deadline, shedding, or the listener's stop.
      const err: unknown = controller.signal.aborted && caught instanceof AbortedError ? controller.signal.reason : caught;
      const publicKey = err instanceof IdentityInvalid ? err.publicKey : undefined;
      if (err instanceof TcommsError && err.kind === 'protocol' && penalisable) admission.penalise(address, Date.now());
      // A banned peer is recognised by its Noise static key, before anything of ours was sent.
      const reason = err instanceof PeerBanned ? 'banned' : err instanceof UpgradeShed || (slotError !== undefined && caught === slotError) ? 'busy' : 'upgrade-failed';
      send({ type: 'inbound.rejected', reason, remoteAddress: remote, error: toPlainError(err), ...(publicKey ? { publicKey } : {}) });
    } finally {
      clearTimeout(deadline);
      stop.signal.removeEventListener('abort', onStop);
      stopWaiting();
      if (upgrade) admission.release(upgrade);
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
  return () => {
    stop.abort();
    // The listening sockets close with the loop: when the actor is stopped abruptly (its system
    // stopped, not `listener.stop`), nothing else would close them. Closing twice is harmless.
    for (const listener of input.listeners) void listener.close().catch(() => undefined);
  };
});

/** The machine with its real implementations. */
export const listenerLogic = listenerMachine.provide({ actors: { openListeners, acceptLoop, closeListeners } });

/** A listener actor (the node's `listener` component). */
export type ListenerRef = ActorRefFrom<typeof listenerLogic>;
