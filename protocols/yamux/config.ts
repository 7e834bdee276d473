/** yamux session configuration: the defaults of PROTOCOL.md section 3, validated once. */
import { ConfigError } from '../../core/errors.js';
import { INITIAL_WINDOW, MAX_U32 } from './frame.js';

/** Limits and timings of a yamux session. */
export interface YamuxConfig {
  /** Streams the peer may have open at once; beyond it new streams are reset (spec: 512). */
  maxInboundStreams: number;
  /** Streams this side may have open at once (a local safety bound). */
  maxOutboundStreams: number;
  /** Largest receive window a stream may grow to (it starts at 256 KiB). */
  maxReceiveWindow: number;
  /** Largest Data frame this side writes (smaller frames interleave streams more fairly). */
  maxDataFrame: number;
  /** Keepalive Ping interval in ms; 0 turns keepalive off (spec: 30 s). */
  keepaliveIntervalMs: number;
  /** Consecutive unanswered pings that close the connection (spec: 3). */
  keepaliveMaxMissed: number;
  /** After a violation: wait this long for the peer's EOF before closing (spec: 2 s). */
  violationCloseMs: number;
  /** Graceful close: time open streams get to finish after GoAway(0) (spec: 5 s). */
  closeGraceMs: number;
  /** Bytes of unsent output after which the session stops reading from the connection. */
  maxPendingOutput: number;
}

/** The defaults. */
export const DEFAULT_YAMUX_CONFIG: Readonly<YamuxConfig> = Object.freeze({
  maxInboundStreams: 512,
  maxOutboundStreams: 512,
  // 16 MiB: enough for a fast link with a 100 ms round trip; bounded memory per stream.
  maxReceiveWindow: 16 * 1024 * 1024,
  // 64 KiB: one Noise frame's worth of plaintext, give or take; fair interleaving.
  maxDataFrame: 64 * 1024,
  keepaliveIntervalMs: 30_000,
  keepaliveMaxMissed: 3,
  violationCloseMs: 2_000,
  closeGraceMs: 5_000,
  // 4 MiB: a peer that floods Pings (each needs a reply) cannot grow our output without bound.
  maxPendingOutput: 4 * 1024 * 1024,
});

/** Merge `partial` over the defaults and validate the result. */
export function yamuxConfig(partial: Partial<YamuxConfig> = {}): YamuxConfig {
  const c = { ...DEFAULT_YAMUX_CONFIG, ...partial };
  const int = (name: keyof YamuxConfig, min: number, max = Number.MAX_SAFE_INTEGER) => {
    const v = c[name];
    if (!Number.isInteger(v) || v < min || v > max) throw new ConfigError(`yamux ${name} must be an integer in [${min}, ${max}], got ${v}`);
  };
  int('maxInboundStreams', 1, 1 << 20);
  int('maxOutboundStreams', 1, 1 << 20);
  int('maxReceiveWindow', INITIAL_WINDOW, MAX_U32);
  int('maxDataFrame', 1, MAX_U32);
  int('keepaliveIntervalMs', 0);
  int('keepaliveMaxMissed', 1);
  int('violationCloseMs', 0);
  int('closeGraceMs', 0);
  int('maxPendingOutput', 64 * 1024);
  return c;
}
