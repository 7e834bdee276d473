/**
 * Substream protocol negotiation over a stream (PROTOCOL.md section 4): runs the sans-I/O
 * opener or acceptor, within a deadline (10 s by default), and hands the stream over with any
 * protocol bytes that arrived early put back. On failure the stream is closed (FIN) or reset
 * (destroyed) as the protocol says, and the promise rejects with the typed error.
 */
import type { Duplex } from 'node:stream';
import { AbortedError, TcommsError } from '../core/errors.js';
import { NegotiationTimeout, NegotiationViolation } from '../protocols/negotiation/errors.js';
import { decodeNegotiationFrame } from '../protocols/negotiation/frame.js';
import { NegotiationAcceptor, NegotiationOpener, type NegotiationStep } from '../protocols/negotiation/negotiation.js';

/** Default deadline of a whole negotiation. */
export const NEGOTIATION_TIMEOUT_MS = 10_000;

/** An error of a negotiated stream before its owner's own listener: the owner sees the stream destroyed. */
const ignoreHandOverError = (): void => undefined;

/** Per-call options. */
export interface NegotiateOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Propose `protocols` (in order of preference) on a stream this side opened. */
export function negotiateOutbound(stream: Duplex, protocols: readonly string[], options: NegotiateOptions & { optimistic?: boolean } = {}): Promise<string> {
  const opener = new NegotiationOpener(protocols, { optimistic: options.optimistic ?? false });
  return run(stream, (frame) => opener.receive(frame), opener.start(), options);
}

/** Answer the proposals on a stream the peer opened. */
export function negotiateInbound(stream: Duplex, supported: ReadonlySet<string> | ((protocol: string) => boolean), options: NegotiateOptions = {}): Promise<string> {
  const acceptor = new NegotiationAcceptor(supported);
  return run(stream, (frame) => acceptor.receive(frame), { kind: 'continue' }, options);
}

function run(stream: Duplex, receive: (frame: { flags: number; id: Uint8Array }) => NegotiationStep, first: NegotiationStep, options: NegotiateOptions): Promise<string> {
  const timeoutMs = options.timeoutMs ?? NEGOTIATION_TIMEOUT_MS;
  return new Promise<string>((resolve, reject) => {
    let buffered: Uint8Array = new Uint8Array(0);
    let settled = false;
    const timer = setTimeout(() => fail(new NegotiationTimeout(timeoutMs), 'reset'), timeoutMs);
    const onAbort = () => fail(new AbortedError('protocol negotiation aborted'), 'reset');
    const onEnd = () => fail(new NegotiationViolation('the stream ended during negotiation'), 'reset');
    const onError = (err: Error) => fail(err instanceof TcommsError ? err : new NegotiationViolation(`stream error: ${err.message}`), 'reset');
    const onClose = () => fail(new NegotiationViolation('the stream closed during negotiation'), 'reset');

    function cleanup(): void {
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    }
    function fail(error: TcommsError, end: 'close' | 'reset', send?: Uint8Array): void {
      if (settled) return;
      cleanup();
      if (end === 'reset' || stream.destroyed) {
        stream.on('error', () => {});
        stream.destroy();
      } else {
        if (send !== undefined) stream.write(send);
        stream.end();
        stream.resume(); // drop whatever else the peer sends until it closes
      }
      reject(error);
    }
    function apply(step: NegotiationStep): boolean {
      if (step.kind === 'failed') {
        fail(step.error, step.end, step.send);
        return false;
      }
      if (step.send !== undefined) stream.write(step.send);
      if (step.kind === 'selected') {
        cleanup();
        // The owner adds its own listener once the promise settles; a reset read in the same
        // chunk as the answer is emitted before that (nextTick runs before promise jobs) and
        // must not be an uncaught error.
        stream.on('error', ignoreHandOverError);
        if (buffered.length > 0) stream.unshift(buffered);
        resolve(step.protocol);
        return false;
      }
      return true;
    }
    function onReadable(): void {
      let chunk: Buffer | null;
      while (!settled && (chunk = stream.read() as Buffer | null) !== null) {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
        for (;;) {
          let decoded;
          try {
            decoded = decodeNegotiationFrame(buffered);
          } catch (err) {
            fail(err as TcommsError, 'reset');
            return;
          }
          if (decoded === undefined) break;
          buffered = buffered.subarray(decoded.used);
          if (!apply(receive(decoded.frame))) return;
        }
      }
    }

    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
    if (!apply(first)) return;
    stream.on('readable', onReadable);
    onReadable();
  });
}
