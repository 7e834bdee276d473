/** yamux session configuration: the defaults of PROTOCOL.md section 3, validated once. */
import { DEFAULT_CONNECTION_MEMORY } from '../../core/budget.js';
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
  /**
   * Keepalive Ping interval in ms; 0 turns keepalive off (spec: 30 s). More often than the
   * peer's {@link pingsPerSecond} would be cut off as a Ping flood: a node refuses less than
   * 100 ms (`MIN_KEEPALIVE_INTERVAL_MS`); this session-level setting is not checked.
   */
  keepaliveIntervalMs: number;
  /** Consecutive unanswered pings that close the connection (spec: 3). */
  keepaliveMaxMissed: number;
  /** After a violation: wait this long for the peer's EOF before closing (spec: 2 s). */
  violationCloseMs: number;
  /** Graceful close: time open streams get to finish after GoAway(0) (spec: 5 s). */
  closeGraceMs: number;
  /**
   * Bytes of output queued for the peer (the session's frames not yet written, and writes the
   * connection has not yet taken: its own buffer and, below a secure channel, the socket's)
   * above which the session stops reading from the connection, so that a peer that sends
   * Pings or window updates and reads nothing cannot make it write more. Stream data is taken
   * only while the queue is under half of it; the other half is for control frames. Above
   * twice this, or above it for {@link outputStallMs}, the peer is dropped as not reading.
   */
  maxPendingOutput: number;
  /** How long queued output may stay above {@link maxPendingOutput} before the peer is dropped (PeerNotReading). */
  outputStallMs: number;
  /**
   * Pings of the peer answered per second, on average; 0 answers as fast as they come. Every
   * Ping is answered (section 3), but past {@link pingBurst} plus this rate the connection is
   * not read until the peer is back within it: a peer that floods Pings (each one a frame to
   * decode and an answer to encrypt and send) gets a trickle of this node's time, not a core.
   */
  pingsPerSecond: number;
  /** Pings answered at once before {@link pingsPerSecond} applies. */
  pingBurst: number;
  /**
   * Streams the peer may open per second, on average (each SYN, taken or refused); 0: no limit.
   * As for Pings: past {@link streamOpenBurst} plus this rate the connection is not read until
   * the peer is back within it, and a SYN past one more burst is the violation `stream-flood`
   * (a stream opened and reset in one 12-byte frame costs the node a stream's set-up and
   * tear-down).
   */
  streamOpensPerSecond: number;
  /** Streams the peer may open at once before {@link streamOpensPerSecond} applies. */
  streamOpenBurst: number;
  /**
   * Memory this connection may hold for the peer: its streams' unread data (counted by the
   * buffers it keeps alive), partial frames charged by protocol handlers, queued output.
   * Above it the connection is not read until the holders release some.
   */
  maxConnectionMemory: number;
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
  // 10 s: a live peer drains 4 MiB much sooner; one that reads nothing is let go.
  outputStallMs: 10_000,
  // A keepalive is one Ping per 30 s; a peer measuring round trips may send a few more.
  pingsPerSecond: 10,
  pingBurst: 100,
  // A burst as large as the streams a peer may have open at once; RPC sessions and messaging
  // keep their substreams, so a peer opens a few a second.
  streamOpensPerSecond: 256,
  streamOpenBurst: 512,
  // 16 MiB: a fast stream's full window, or 64 streams' initial ones.
  maxConnectionMemory: DEFAULT_CONNECTION_MEMORY,
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
  int('outputStallMs', 1);
  int('maxConnectionMemory', 64 * 1024);
  int('pingsPerSecond', 0, 1_000_000);
  int('pingBurst', 1, MAX_U32);
  int('streamOpensPerSecond', 0, 1_000_000);
  int('streamOpenBurst', 1, MAX_U32);
  return c;
}
