/**
 * What a fault transport does wrong, and how often: per chunk and direction (drop, duplicate,
 * truncate, corrupt, delay, stall, reset), per dial (refuse, delay) and per accepted connection
 * (refuse, delay). Probabilities are 0..1; every decision comes from a seeded generator.
 */
import { ConfigError } from '../../core/errors.js';

/** The faults a stream direction can suffer, each a probability per chunk. */
export interface StreamFaults {
  /** The chunk is lost (the stream goes on without it). */
  drop: number;
  /** The chunk is passed twice. */
  duplicate: number;
  /** Only a strict prefix of the chunk is passed (the rest is lost). */
  truncate: number;
  /** One bit of the chunk is flipped. */
  corrupt: number;
  /** The chunk (and everything after it in that direction) waits a short while ({@link FaultPlan.delayMs}). */
  delay: number;
  /** The direction stops for a long while ({@link FaultPlan.stallMs}), or until faults are turned off. */
  stall: number;
  /** The connection is reset: both ends are destroyed, this one with ECONNRESET. */
  reset: number;
}

/** Faults of dials, each a probability per dial. */
export interface DialFaults {
  /** The dial fails at once with ConnectionRefused. */
  refuse: number;
  /** The dial waits {@link FaultPlan.delayMs} before it starts. */
  delay: number;
}

/** Faults of accepted connections, each a probability per connection. */
export interface AcceptFaults {
  /** The connection is closed at once and counted as dropped. */
  refuse: number;
  /** The connection is handed over after {@link FaultPlan.delayMs}. */
  delay: number;
}

/** A complete fault plan. */
export interface FaultPlan {
  /** Bytes this side writes. */
  outbound: StreamFaults;
  /** Bytes this side reads. */
  inbound: StreamFaults;
  dial: DialFaults;
  accept: AcceptFaults;
  /** Range of a delay, ms (inclusive). */
  delayMs: readonly [number, number];
  /** Range of a stall, ms (inclusive). */
  stallMs: readonly [number, number];
}

/** A plan given in part: what is left out does not happen. */
export interface FaultPlanInit {
  outbound?: Partial<StreamFaults>;
  inbound?: Partial<StreamFaults>;
  dial?: Partial<DialFaults>;
  accept?: Partial<AcceptFaults>;
  delayMs?: readonly [number, number];
  stallMs?: readonly [number, number];
}

/** No faults at all. */
export const NO_STREAM_FAULTS: Readonly<StreamFaults> = Object.freeze({ drop: 0, duplicate: 0, truncate: 0, corrupt: 0, delay: 0, stall: 0, reset: 0 });

/** The defaults of the timings: delays of a few ms (reordering nothing, spreading bursts), stalls of seconds. */
export const DEFAULT_FAULT_TIMINGS = Object.freeze({ delayMs: [1, 20] as const, stallMs: [1_000, 5_000] as const });

/** The kinds of stream faults, in the order a chunk's draw is matched against them. */
export const STREAM_FAULT_KINDS = ['reset', 'drop', 'duplicate', 'truncate', 'corrupt', 'stall', 'delay'] as const;
/** A kind of stream fault. */
export type StreamFaultKind = (typeof STREAM_FAULT_KINDS)[number];

function probability(where: string, value: number): number {
  if (!(value >= 0 && value <= 1)) throw new ConfigError(`fault probability ${where} must be in 0..1, got ${value}`);
  return value;
}

function range(where: string, value: readonly [number, number]): readonly [number, number] {
  if (!(Number.isInteger(value[0]) && Number.isInteger(value[1]) && value[0] >= 0 && value[1] >= value[0])) throw new ConfigError(`fault ${where} must be [min, max] ms with 0 <= min <= max`);
  return [value[0], value[1]];
}

function streamFaults(where: string, init: Partial<StreamFaults> = {}): StreamFaults {
  const out = { ...NO_STREAM_FAULTS, ...init };
  let total = 0;
  for (const kind of STREAM_FAULT_KINDS) total += probability(`${where}.${kind}`, out[kind]);
  if (total > 1) throw new ConfigError(`the ${where} fault probabilities add up to ${total} (at most 1)`);
  return out;
}

/** A complete plan from a partial one, validated (throws ConfigError). */
export function faultPlan(init: FaultPlanInit = {}): FaultPlan {
  const dial = { refuse: 0, delay: 0, ...init.dial };
  const accept = { refuse: 0, delay: 0, ...init.accept };
  for (const [k, p] of Object.entries(dial)) probability(`dial.${k}`, p);
  for (const [k, p] of Object.entries(accept)) probability(`accept.${k}`, p);
  return {
    outbound: streamFaults('outbound', init.outbound),
    inbound: streamFaults('inbound', init.inbound),
    dial,
    accept,
    delayMs: range('delayMs', init.delayMs ?? DEFAULT_FAULT_TIMINGS.delayMs),
    stallMs: range('stallMs', init.stallMs ?? DEFAULT_FAULT_TIMINGS.stallMs),
  };
}
