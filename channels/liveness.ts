/**
 * Liveness mode (PROTOCOL.md section 7): the responder side (a line echo, only for allowed
 * addresses and a bounded number of concurrent sessions, each line within 10 s of the start or
 * the previous echo) and the self-check client that measures the round trip.
 */
import { BlockList, isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { ConfigError, TcommsError, TimeoutError } from '../core/errors.js';
import { LineEcho, MAX_LIVENESS_LINE } from '../protocols/liveness/index.js';
import type { ConnectionVia } from '../transports/transport.js';
import { LIVENESS_WIRE_BYTE } from './upgrade.js';

/** Construction options of the liveness service. */
export interface LivenessServiceInit {
  /** CIDRs allowed to use liveness mode (default `127.0.0.1/32`). */
  allow?: readonly string[];
  /** Concurrent sessions at most (default 1). */
  maxSessions?: number;
  /** A line must arrive within this many ms of the start or the previous echo (default 10 000). */
  idleTimeoutMs?: number;
  /**
   * Echoed bytes the socket may hold unsent before the session stops reading (default 4 KiB):
   * a client that sends lines and reads nothing cannot make the echo grow.
   */
  maxQueuedEchoBytes?: number;
}

/** Echoed bytes a session may have unsent before it stops reading (4 KiB: 80 lines). */
export const DEFAULT_MAX_QUEUED_ECHO_BYTES = 4 * 1024;

/** Why a liveness session ended. */
export type LivenessEnd = 'refused-address' | 'refused-transport' | 'refused-busy' | 'ended' | 'idle' | 'line-too-long' | 'error';

/** Serves liveness mode (wire byte 0xa7): line echo for allowed CIDRs, bounded sessions, idle timeout. */
export class LivenessService {
  readonly #allow = new BlockList();
  readonly #maxSessions: number;
  readonly #idleMs: number;
  readonly #maxQueued: number;
  #sessions = 0;

  constructor(init: LivenessServiceInit = {}) {
    for (const cidr of init.allow ?? ['127.0.0.1/32']) {
      const [net, bits] = cidr.split('/');
      const family = isIP(net ?? '');
      const prefix = Number(bits ?? (family === 6 ? 128 : 32));
      if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) throw new ConfigError(`bad liveness allow-list entry ${cidr}`);
      this.#allow.addSubnet(net!, prefix, family === 6 ? 'ipv6' : 'ipv4');
    }
    this.#maxSessions = init.maxSessions ?? 1;
    this.#idleMs = init.idleTimeoutMs ?? 10_000;
    this.#maxQueued = init.maxQueuedEchoBytes ?? DEFAULT_MAX_QUEUED_ECHO_BYTES;
    if (!Number.isInteger(this.#maxQueued) || this.#maxQueued < 0) throw new ConfigError(`maxQueuedEchoBytes must be a non-negative integer, got ${this.#maxQueued}`);
  }

  get sessions(): number {
    return this.#sessions;
  }

  /** Whether `ip` may use liveness mode. */
  allows(ip: string | undefined): boolean {
    if (ip === undefined) return false;
    const family = isIP(ip);
    return family !== 0 && this.#allow.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  }

  /**
   * Serves one session on `raw` (the wire byte already read). A disallowed address, a
   * connection that did not come straight over TCP (`via` given and not `tcp`: through an
   * onion service every client looks like 127.0.0.1), or one session too many is closed
   * without writing. Resolves with why the session ended.
   */
  serve(raw: Duplex, remoteIp: string | undefined, via?: ConnectionVia): Promise<LivenessEnd> {
    raw.on('error', () => {});
    if (via !== undefined && via !== 'tcp') {
      raw.destroy();
      return Promise.resolve('refused-transport');
    }
    if (!this.allows(remoteIp)) {
      raw.destroy();
      return Promise.resolve('refused-address');
    }
    if (this.#sessions >= this.#maxSessions) {
      raw.destroy();
      return Promise.resolve('refused-busy');
    }
    this.#sessions++;
    return new Promise<LivenessEnd>((resolve) => {
      const echo = new LineEcho();
      let timer: NodeJS.Timeout;
      const finish = (why: LivenessEnd) => {
        clearTimeout(timer);
        raw.removeAllListeners('data');
        raw.destroy();
        this.#sessions--;
        resolve(why);
      };
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => finish('idle'), this.#idleMs);
      };
      arm();
      // Echoed bytes not yet taken by the socket (its write callbacks say when): above the
      // bound the session stops reading until they drain, so a client that does not read
      // gets no more echoes and the idle timeout ends it.
      let queued = 0;
      let paused = false;
      const taken = (n: number) => () => {
        queued -= n;
        if (paused && queued <= this.#maxQueued && !raw.destroyed) {
          paused = false;
          raw.resume();
        }
      };
      raw.on('data', (chunk: Buffer) => {
        let lines: Uint8Array[];
        try {
          lines = echo.push(chunk);
        } catch {
          finish('line-too-long');
          return;
        }
        if (lines.length > 0) {
          const out = lines.length === 1 ? lines[0]! : Buffer.concat(lines);
          queued += out.length;
          raw.write(out, taken(out.length));
          if (queued > this.#maxQueued && !paused) {
            paused = true;
            raw.pause();
          }
          arm();
        }
      });
      raw.once('end', () => finish('ended'));
      raw.once('close', () => finish('ended'));
    });
  }
}

/** The liveness self-check got no echo, or a wrong one. */
export class LivenessCheckFailed extends TcommsError {
  readonly kind = 'transport' as const;
}

/** Self-check: sends the liveness wire byte and one line, resolves with the echo's round trip (ms). */
export function livenessCheck(raw: Duplex, options: { line?: string; timeoutMs?: number } = {}): Promise<number> {
  const line = options.line ?? 'tcomms liveness';
  if (Buffer.byteLength(line) > MAX_LIVENESS_LINE || line.includes('\n')) throw new ConfigError(`a liveness line is one line of at most ${MAX_LIVENESS_LINE} bytes`);
  const expected = Buffer.from(`${line}\n`);
  return new Promise((resolve, reject) => {
    const start = performance.now();
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => done(new TimeoutError(`no liveness echo within ${options.timeoutMs ?? 10_000} ms`)), options.timeoutMs ?? 10_000);
    const done = (err?: Error) => {
      clearTimeout(timer);
      raw.removeAllListeners('data');
      raw.destroy();
      if (err) reject(err);
      else resolve(performance.now() - start);
    };
    raw.on('error', (err) => done(err));
    raw.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= expected.length) done(got.subarray(0, expected.length).equals(expected) ? undefined : new LivenessCheckFailed('the liveness echo did not match'));
    });
    raw.once('end', () => done(new LivenessCheckFailed('the peer closed before echoing')));
    raw.write(Buffer.concat([Uint8Array.of(LIVENESS_WIRE_BYTE), expected]));
  });
}
