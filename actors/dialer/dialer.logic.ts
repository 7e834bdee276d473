/**
 * The dial itself: addresses in quality order (as the peer manager sorts them), each attempt
 * (transport connect + upgrade, with the dialed-key check) under its own timeout, a stat written
 * back per attempt, rounds with exponential backoff, and the AbortSignal of the child actor for
 * cancellation.
 */
import { fromCallback, type Actor, type EventObject } from 'xstate';
import { multiaddr } from '@multiformats/multiaddr';
import { TcommsError, AbortedError, type PlainError, toPlainError, RequestFailed } from '../../core/errors.js';
import { upgradeOutbound, type PeerConnection } from '../../channels/upgrade.js';
import { IdentityInvalid } from '../../protocols/identity/index.js';
import { sortAddresses, type PeerAddressRecord } from '../../storage/peer.js';
import { DialDeadline } from '../../transports/deadline.js';
import { DialTimeout, UnsupportedAddress } from '../../transports/errors.js';
import type { DialInput, DialerInput } from './dialer.machine.js';
import { dialerMachine } from './dialer.machine.js';
import { requestReply } from '../request.js';
import { startObserved } from '../start.js';
import type { DialReply } from './dialer.events.js';

/** Every address failed in every round; `attempts` says how each one failed. */
export class DialExhausted extends TcommsError {
  readonly kind = 'transport' as const;
  constructor(readonly attempts: Array<{ address: string; error: PlainError }>) {
    super(attempts.length === 0 ? 'no address to dial' : `all ${attempts.length} attempts failed; last: ${attempts.at(-1)!.error.name}: ${attempts.at(-1)!.error.message}`);
  }
}


function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new AbortedError('dial cancelled'));
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError('dial cancelled'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** One attempt at one address under its own timeout (folded with the dial's signal). */
async function attempt(input: DialInput, address: string, signal: AbortSignal): Promise<PeerConnection> {
  const ma = multiaddr(address);
  const transport = input.transports.find((t) => t.canDial(ma));
  if (!transport) throw new UnsupportedAddress(address, 'dialer', 'no configured transport dials it');
  const timeoutMs = input.attemptTimeoutMs ?? 30_000;
  // One deadline for the whole attempt: the dial's own signal folded with the attempt timeout.
  const deadline = new DialDeadline(address, { signal }, timeoutMs);
  try {
    const conn = await transport.dial(ma, { signal: deadline.signal, timeoutMs });
    try {
      return await upgradeOutbound(conn.stream, input.upgrade, { signal: deadline.signal, dialedPublicKey: input.publicKey });
    } catch (err) {
      conn.stream.destroy();
      if (deadline.reason instanceof DialTimeout) throw deadline.reason;
      throw err;
    }
  } finally {
    deadline.done();
  }
}

/** One dial: addresses in quality order, attempts under their own timeouts, stats, rounds with backoff. */
async function runDial(input: DialInput, signal: AbortSignal, settle: () => void): Promise<void> {
  const failures: Array<{ address: string; error: PlainError }> = [];
  // The report settles the dial: the dialer stops this child as it handles it, and a settled
  // dial's stop aborts nothing.
  const report = (event: Parameters<typeof input.parent.send>[0]) => {
    if (signal.aborted) return;
    settle();
    input.parent.send(event);
  };
  try {
    const rounds = input.rounds ?? 3;
    let backoff = input.backoffMs ?? 1000;
    for (let round = 0; round < rounds; round++) {
      if (round > 0) {
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 30_000);
      }
      // Re-read each round: the stats written by the previous round reorder the addresses.
      const stored = await input.peers.find({ publicKey: input.publicKey });
      const addresses =
        input.addresses ?? sortAddresses((stored?.addresses ?? []) as PeerAddressRecord[], Date.now()).map((a) => a.address);
      if (addresses.length === 0) throw new DialExhausted([]);
      for (const address of addresses) {
        if (signal.aborted) throw new AbortedError('dial cancelled');
        // Stats are written in the background: a store commit must not delay the dial.
        void input.peers.dialAttempted(input.publicKey, address).catch(() => undefined);
        const started = performance.now();
        try {
          const connection = await attempt(input, address, signal);
          void input.peers.dialSucceeded(input.publicKey, address, performance.now() - started).catch(() => undefined);
          // Cancelled meanwhile: nobody takes the connection. (The dialer stops this child as it
          // settles the dial, so nothing may run after the report.)
          if (signal.aborted) return void connection.muxer.abort();
          report({ type: 'dial.succeeded', key: input.key, connection });
          return;
        } catch (err) {
          if (signal.aborted) throw new AbortedError('dial cancelled');
          failures.push({ address, error: toPlainError(err) });
          void input.peers.dialFailed(input.publicKey, address, `${(err as Error).name}: ${(err as Error).message}`).catch(() => undefined);
          // The peer proved its key in Noise, then sent an invalid claim: a violation, not a bad address.
          if (err instanceof IdentityInvalid && err.publicKey !== undefined) throw err;
        }
      }
    }
    throw new DialExhausted(failures);
  } catch (err) {
    report({ type: 'dial.failed', key: input.key, publicKey: input.publicKey, error: toPlainError(err) });
  }
}

/**
 * The dial child. A callback actor, not a promise actor: the dialer stops the child while
 * handling its report, that is while the dial's function has not returned yet, and a pending
 * promise actor that is stopped aborts its signal without a reason, which builds a
 * DOMException (about 20-30 us per dial in the dialer's profile). Here a stop aborts only a
 * dial that has not reported, with an {@link AbortedError}.
 */
export const dialPeer = fromCallback<EventObject, DialInput>(({ input }) => {
  const controller = new AbortController();
  let settled = false;
  const settle = () => {
    settled = true;
  };
  runDial(input, controller.signal, settle).catch((err: unknown) => {
    // runDial reports its own failures; this is a throw from the report itself.
    if (!settled && !controller.signal.aborted) {
      settle();
      input.parent.send({ type: 'dial.failed', key: input.key, publicKey: input.publicKey, error: toPlainError(err) });
    }
  });
  return () => {
    if (!settled) controller.abort(new AbortedError('dial cancelled'));
  };
});

/** The machine with its real dial. */
export const dialerLogic = dialerMachine.provide({ actors: { dialPeer } });
/** A running dialer actor. */
export type DialerActor = Actor<typeof dialerLogic>;

/** Starts a dialer actor (observed for errors). */
export function startDialer(input: DialerInput, onError?: (err: unknown) => void): DialerActor {
  return startObserved(dialerLogic, { input }, 'dialer', onError);
}

/** Sends a dial request and waits for its reply (bounded by `timeoutMs`). */
export async function dial(actor: DialerActor, publicKey: DialInput['publicKey'], options: { addresses?: string[]; timeoutMs?: number } = {}): Promise<PeerConnection> {
  const reply = await requestReply<DialReply>(
    actor,
    'dial.reply',
    { type: 'dial.request', publicKey, ...(options.addresses ? { addresses: options.addresses } : {}) },
    options.timeoutMs ?? 120_000,
  );
  if (reply.ok) return reply.connection;
  throw new DialRequestFailed(reply.error);
}

/** A dial request failed; `error` is the dial's error (name, message, kind). */
export class DialRequestFailed extends RequestFailed {}
