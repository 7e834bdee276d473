/**
 * The connection upgrade (PROTOCOL.md section 1): wire byte, Noise, yamux, identity exchange on
 * the first substream (section 5). The result is an active {@link PeerConnection}: an
 * authenticated, multiplexed connection to a peer whose signed identity was checked.
 *
 * The actors (listener, dialer, connection manager) drive this with their own limits; this
 * module does one upgrade, bounded by its own timeouts and an optional AbortSignal.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { MemoryBudget } from '../core/budget.js';
import { TcommsError, TimeoutError, AbortedError, ProtocolError } from '../core/errors.js';
import type { NodeIdentity, PublicKey } from '../core/keys.js';
import {
  createIdentityMessage,
  encodeIdentityFrame,
  IdentityFrameReader,
  IdentityInvalid,
  validateIdentityMessage,
  type IdentityContent,
  type ValidatedIdentity,
} from '../protocols/identity/index.js';
import { decodeNegotiationFrame, encodeNegotiationFrame, idText, NegotiationFlag } from '../protocols/negotiation/frame.js';
import type { YamuxConfig } from '../protocols/yamux/config.js';
import { MuxerClosed } from '../protocols/yamux/errors.js';
import { negotiateOutbound } from './negotiate.js';
import type { NoiseSecureChannel } from './secure-channel.js';
import { YamuxMuxer } from './yamux/muxer.js';
import type { YamuxStream } from './yamux/stream.js';
import { TurnBudget } from './turn-budget.js';

/** The identity-exchange protocol id (section 5). */
export const IDENTITY_PROTOCOL = '/tari/identity/1.0.0';
/** The wire byte that asks for liveness mode (section 7) instead of a peer connection. */
export const LIVENESS_WIRE_BYTE = 0xa7;
/** How long a responder waits for the wire byte. */
export const DEFAULT_TIME_TO_FIRST_BYTE_MS = 6_000;
/** How long each side waits for the peer's identity frame (section 5: 10 s). */
export const DEFAULT_IDENTITY_TIMEOUT_MS = 10_000;
/** Substreams the peer may open before both identities are checked; more are reset. */
export const DEFAULT_MAX_EARLY_STREAMS = 8;

/** The responder read a wire byte that is neither its network byte nor the liveness byte. */
export class WrongNetworkByte extends TcommsError {
  readonly kind = 'protocol' as const;
  constructor(
    readonly received: number,
    readonly expected: number,
  ) {
    super(`wire byte 0x${received.toString(16).padStart(2, '0')} is not this network's 0x${expected.toString(16).padStart(2, '0')}`);
  }
}

/** The dialer's first byte did not arrive in time. */
export class TimeToFirstByteExceeded extends TimeoutError {}

/** The peer's identity frame did not arrive in time. */
export class IdentityTimeout extends TimeoutError {}

/**
 * Section 5: the initiator's first substream must negotiate `/tari/identity/1.0.0` (a first
 * proposal of anything else, or a frame that is no proposal, closes the connection; nothing
 * is written in reply). `protocol` is what it proposed ('' when it proposed nothing).
 */
export class FirstSubstreamNotIdentity extends ProtocolError {
  constructor(readonly protocol: string) {
    super(protocol === '' ? 'the first substream ended without proposing the identity protocol' : `the first substream proposed ${JSON.stringify(protocol.slice(0, 64))}, not ${IDENTITY_PROTOCOL}`);
  }
}

/** What the upgrade needs to know about this node. */
export interface UpgradeConfig {
  identity: NodeIdentity;
  /** The Noise channel (its network byte is the wire byte). */
  channel: NoiseSecureChannel;
  /** This node's current claim (signed at each upgrade, unless `signedIdentity` gives it signed). */
  identityContent: () => IdentityContent;
  /** This node's current claim, signed and encoded (`PeerIdentityMsg`): the identity actor's. */
  signedIdentity?: () => Uint8Array;
  /** Unix seconds now (default: the system clock). */
  nowSeconds?: () => bigint;
  allowMemoryAddresses?: boolean;
  timeToFirstByteMs?: number;
  identityTimeoutMs?: number;
  maxEarlyStreams?: number;
  yamux?: Partial<YamuxConfig>;
  /**
   * The node's memory budget across all connections: each connection's budget
   * (`yamux.maxConnectionMemory`) is a child of it. Default: a budget of 256 MiB per connection
   * (no node-wide bound).
   */
  budget?: MemoryBudget;
  /** The work per turn of the event loop the connections share: each muxer charges its peer's stream opens to it (default: the process's). */
  turns?: TurnBudget;
  /**
   * Responder: asked with the peer's Noise static key (X25519) as soon as the handshake has it,
   * before any yamux or identity byte of ours is written. True closes the connection at once
   * without writing, and the upgrade fails with PeerBanned (kind 'peer'). Keep it synchronous
   * and cheap: a lookup in a set of the X25519 forms of the banned keys.
   */
  isBannedNoiseKey?: (x25519Static: Uint8Array) => boolean;
}

/** Per-upgrade options. */
export interface UpgradeOptions {
  signal?: AbortSignal;
  /** Outbound only: the peer's public key, checked in Noise (before revealing ours) and in its identity. */
  dialedPublicKey?: PublicKey;
  /**
   * Inbound only: awaited once the peer's first Noise message is in (see
   * `SecureOptions.admit`), before any work of ours on it: the listener takes the upgrade slot
   * here. A rejection fails the upgrade with its error.
   */
  admit?: () => Promise<void>;
}

/** Events of a PeerConnection. */
export interface PeerConnectionEvents {
  /** A substream the peer opened, after both identities were checked. */
  stream: [stream: YamuxStream];
  close: [error: TcommsError | undefined];
}

/** Inbound substreams held (at most `max`; more are destroyed) until released to a receiver. */
export class HeldStreams {
  #held: YamuxStream[] | undefined = [];
  #deliver: ((stream: YamuxStream) => void) | undefined;

  constructor(readonly max: number) {}

  accept(stream: YamuxStream): void {
    if (this.#held === undefined) this.#deliver!(stream);
    else if (this.#held.length < this.max) this.#held.push(stream);
    else stream.destroy();
  }

  /** From now on streams go to `deliver`, the held ones first. */
  release(deliver: (stream: YamuxStream) => void): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    this.#deliver = deliver;
    for (const s of held) deliver(s);
  }

  destroy(): void {
    for (const s of this.#held?.splice(0) ?? []) s.destroy();
  }
}

/** An active connection: authenticated, multiplexed, identities exchanged. */
export class PeerConnection extends EventEmitter<PeerConnectionEvents> {
  constructor(
    readonly peer: ValidatedIdentity,
    readonly direction: 'inbound' | 'outbound',
    readonly muxer: YamuxMuxer,
    private readonly held: HeldStreams,
  ) {
    super();
    void muxer.closedPromise.then((err) => this.emit('close', err));
  }

  /**
   * Opens a substream and negotiates one of `protocols`. Optimistic (one frame, no round trip)
   * by default when there is one protocol and the peer advertised it in its identity.
   */
  async openStream(protocols: readonly string[], options: { optimistic?: boolean; signal?: AbortSignal; timeoutMs?: number } = {}): Promise<{ stream: YamuxStream; protocol: string }> {
    const stream = this.muxer.newStream();
    const optimistic = options.optimistic ?? (protocols.length === 1 && this.peer.supportedProtocols.includes(protocols[0]!));
    try {
      const protocol = await negotiateOutbound(stream, protocols, { ...options, optimistic });
      return { stream, protocol };
    } catch (err) {
      stream.destroy();
      throw err;
    }
  }

  /** Starts delivering inbound substreams (held ones first) to `stream` listeners. */
  release(): void {
    this.held.release((s) => this.#deliver(s));
  }

  #deliver(stream: YamuxStream): void {
    if (this.listenerCount('stream') > 0) this.emit('stream', stream);
    else stream.destroy();
  }

  /** What this connection holds for the peer (its budget's `used` is the figure to report). */
  get memory(): MemoryBudget {
    return this.muxer.memory;
  }

  /** Graceful close (GoAway, then the grace period). */
  close(): Promise<void> {
    return this.muxer.close();
  }
}

/** Reads exactly one byte within `timeoutMs`, putting any further bytes back. */
function readWireByte(raw: Duplex, timeoutMs: number, signal?: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      raw.off('readable', onReadable);
      raw.off('end', onEnd);
      raw.off('close', onEnd);
      signal?.removeEventListener('abort', onAbort);
    };
    const onReadable = () => {
      const chunk = raw.read(1) as Buffer | null;
      if (chunk === null) return;
      cleanup();
      resolve(chunk[0]!);
    };
    const onEnd = () => {
      cleanup();
      reject(new TimeToFirstByteExceeded('the connection closed before its first byte'));
    };
    const onAbort = () => {
      cleanup();
      reject(new AbortedError('upgrade aborted'));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new TimeToFirstByteExceeded(`no wire byte within ${timeoutMs} ms`));
    }, timeoutMs);
    raw.on('readable', onReadable);
    raw.once('end', onEnd);
    raw.once('close', onEnd);
    signal?.addEventListener('abort', onAbort, { once: true });
    onReadable();
  });
}

/**
 * Section 5: writes our frame and FIN at once, and resolves with the peer's message as soon as
 * its frame is complete (not waiting for its FIN), within the deadline. The substream is watched
 * until the peer's FIN: a byte after the frame is a violation, given to `onLateViolation` when
 * it comes after the frame was handed over (the connection then closes with it).
 */
function exchangeIdentity(stream: YamuxStream, ours: Uint8Array, deadline: Promise<never>, onLateViolation: (err: ProtocolError) => void): Promise<Uint8Array> {
  const reader = new IdentityFrameReader();
  const read = new Promise<Uint8Array>((resolve, reject) => {
    let settled = false;
    stream.on('data', (chunk: Buffer) => {
      let message: Uint8Array | undefined;
      try {
        message = reader.push(chunk);
      } catch (err) {
        if (!settled) {
          settled = true;
          reject(err);
        } else onLateViolation(err as ProtocolError);
        return;
      }
      if (message !== undefined && !settled) {
        settled = true;
        resolve(message);
      }
    });
    stream.once('end', () => {
      if (settled) return;
      settled = true;
      try {
        resolve(reader.end());
      } catch (err) {
        reject(err);
      }
    });
    // Once the frame is in, a reset or a close of the substream is no violation.
    stream.on('error', (err) => {
      if (settled) return;
      settled = true;
      reject(err);
    });
    // Only a close before the end is a failure (an error made and thrown away costs a stack trace per connection).
    stream.once('close', () => {
      if (!settled) reject(new IdentityInvalid('frame', 'the identity substream closed before its end'));
    });
  });
  stream.end(encodeIdentityFrame(ours));
  return Promise.race([read, deadline]);
}

/**
 * The responder's side of the first substream's negotiation (section 5): the first frame must
 * propose the identity protocol, optimistically (no reply) or not (echoed). Anything else
 * rejects with {@link FirstSubstreamNotIdentity} and writes nothing: the caller closes the
 * connection. Protocol bytes that came with the proposal are put back.
 */
function acceptIdentitySubstream(stream: YamuxStream, deadline: Promise<never>): Promise<void> {
  const accepted = new Promise<void>((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    let settled = false;
    const done = (err?: Error, rest?: Uint8Array) => {
      if (settled) return;
      settled = true;
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      stream.off('error', onError);
      if (err !== undefined) return reject(err);
      if (rest !== undefined && rest.length > 0) stream.unshift(rest);
      resolve();
    };
    const onEnd = () => done(new FirstSubstreamNotIdentity(''));
    const onError = (err: Error) => done(err);
    function onReadable(): void {
      let chunk: Buffer | null;
      while (!settled && (chunk = stream.read() as Buffer | null) !== null) {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
        let decoded;
        try {
          decoded = decodeNegotiationFrame(buffered);
        } catch {
          return done(new FirstSubstreamNotIdentity('')); // undefined flag bits: no proposal
        }
        if (decoded === undefined) continue;
        const { frame, used } = decoded;
        const id = idText(frame.id);
        const optimistic = (frame.flags & NegotiationFlag.OPTIMISTIC) !== 0;
        if (id !== IDENTITY_PROTOCOL || (!optimistic && frame.flags !== NegotiationFlag.NONE)) return done(new FirstSubstreamNotIdentity(id));
        if (!optimistic) stream.write(encodeNegotiationFrame(frame.id, NegotiationFlag.NONE));
        return done(undefined, buffered.subarray(used));
      }
    }
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
    stream.once('error', onError);
    onReadable();
  });
  return Promise.race([accepted, deadline]);
}

function deadlineAfter(ms: number, what: string): { promise: Promise<never>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new IdentityTimeout(`${what}: no identity within ${ms} ms`)), ms);
  });
  promise.catch(() => {});
  return { promise, cancel: () => clearTimeout(timer) };
}

const systemNow = () => BigInt(Math.floor(Date.now() / 1000));

function ignoreError(): void {}

/** The last identity message signed per config: signing again an unchanged claim is wasted work. */
const signedClaims = new WeakMap<UpgradeConfig, { key: string; message: Uint8Array }>();

function claimKey(c: IdentityContent): string {
  return [c.updatedAt, c.features, c.userAgent, c.supportedProtocols.join('\n'), ...c.addresses.map((a) => Buffer.from(a).toString('hex'))].join('|');
}

/** This node's signed identity message for its current claim (Ed25519 is deterministic: same bytes). */
function ourIdentityMessage(config: UpgradeConfig): Uint8Array {
  if (config.signedIdentity) return config.signedIdentity();
  const content = config.identityContent();
  const key = claimKey(content);
  const cached = signedClaims.get(config);
  if (cached?.key === key) return cached.message;
  const message = createIdentityMessage(config.identity, content);
  signedClaims.set(config, { key, message });
  return message;
}

async function finish(
  config: UpgradeConfig,
  secure: Duplex & { remoteStatic: Uint8Array },
  initiator: boolean,
  options: UpgradeOptions,
): Promise<PeerConnection> {
  // Substreams the peer opens before both identities are checked wait here, then in the connection.
  const held = new HeldStreams(config.maxEarlyStreams ?? DEFAULT_MAX_EARLY_STREAMS);
  const deadline = deadlineAfter(config.identityTimeoutMs ?? DEFAULT_IDENTITY_TIMEOUT_MS, initiator ? 'outbound' : 'inbound');
  let identityStream: Promise<YamuxStream> | undefined;
  let resolveFirst: ((s: YamuxStream) => void) | undefined;
  if (!initiator) identityStream = new Promise((resolve) => (resolveFirst = resolve));
  const muxer = new YamuxMuxer(secure, {
    client: initiator,
    ...(config.yamux ? { config: config.yamux } : {}),
    ...(config.budget ? { budget: config.budget } : {}),
    ...(config.turns ? { turns: config.turns } : {}),
    onStream: (stream) => {
      // Whoever takes the substream (the identity exchange, the connection's watcher) listens
      // for its errors from then on, a turn later at the earliest: a connection that ends in
      // between destroys it with an error, which must not be an unhandled 'error' event.
      stream.on('error', ignoreError);
      if (resolveFirst) {
        const first = resolveFirst;
        resolveFirst = undefined;
        first(stream);
      } else held.accept(stream);
    },
  });
  const onAbort = () => muxer.abort(new AbortedError('upgrade aborted'));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  // The connection may end (the upgrade aborted, shed or past its deadline, the socket closed)
  // before the peer opens the identity substream: the upgrade ends then, not at the identity
  // deadline (its upgrade slot and its hold on the turns with it).
  const ended = muxer.closedPromise.then((err) => {
    throw err ?? new MuxerClosed('the connection closed during the upgrade');
  });
  ended.catch(() => {});
  try {
    const ours = ourIdentityMessage(config);
    let stream: YamuxStream;
    if (initiator) {
      stream = muxer.newStream();
      await negotiateOutbound(stream, [IDENTITY_PROTOCOL], { optimistic: true });
    } else {
      stream = await Promise.race([identityStream!, ended, deadline.promise]);
      // A responder whose first substream is not the identity protocol closes the connection.
      stream.on('error', () => {});
      await acceptIdentitySubstream(stream, deadline.promise);
    }
    // A byte after the peer's frame (before its FIN) breaks section 5: the connection closes
    // with that violation, during the upgrade or once active.
    let late: ProtocolError | undefined;
    const theirs = await exchangeIdentity(stream, ours, deadline.promise, (err) => {
      late ??= err;
      muxer.violation(err);
    });
    const peer = validateIdentityMessage(theirs, {
      noiseStatic: secure.remoteStatic,
      nowSeconds: (config.nowSeconds ?? systemNow)(),
      ...(options.dialedPublicKey ? { dialedPublicKey: options.dialedPublicKey } : {}),
      allowMemory: config.allowMemoryAddresses ?? false,
    });
    if (late !== undefined) throw late;
    return new PeerConnection(peer, initiator ? 'outbound' : 'inbound', muxer, held);
  } catch (err) {
    held.destroy();
    muxer.abort(err instanceof TcommsError ? err : undefined);
    secure.destroy();
    throw err;
  } finally {
    deadline.cancel();
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/** Dials side: wire byte, Noise (initiator), yamux client, identity exchange. */
export async function upgradeOutbound(raw: Duplex, config: UpgradeConfig, options: UpgradeOptions = {}): Promise<PeerConnection> {
  // Each step of the upgrade waits for a turn: bulk data waits instead (TurnBudget.urgent).
  const done = (config.turns ?? TurnBudget.shared).urgent();
  try {
    // The wire byte leaves with the first Noise message, in one write.
    const secure = await config.channel.secureOutbound(raw, {
      preamble: Uint8Array.of(config.channel.networkByte),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.dialedPublicKey ? { dialedPublicKey: options.dialedPublicKey } : {}),
    });
    return await finish(config, secure, true, options);
  } finally {
    done();
  }
}

/** The responder saw the liveness wire byte: the caller runs liveness mode on `raw`. */
export interface LivenessRequest {
  kind: 'liveness';
  raw: Duplex;
}

/** Accepting side: wire byte (network byte or liveness), Noise (responder), yamux server, identity exchange. */
export async function upgradeInbound(raw: Duplex, config: UpgradeConfig, options: UpgradeOptions = {}): Promise<PeerConnection | LivenessRequest> {
  const byte = await readWireByte(raw, config.timeToFirstByteMs ?? DEFAULT_TIME_TO_FIRST_BYTE_MS, options.signal);
  if (byte === LIVENESS_WIRE_BYTE) return { kind: 'liveness', raw };
  if (byte !== config.channel.networkByte) {
    raw.destroy(); // close without writing anything
    throw new WrongNetworkByte(byte, config.channel.networkByte);
  }
  // From its admission (its first Noise message in, an upgrade slot taken) each step of the
  // upgrade waits for a turn: bulk data waits instead (TurnBudget.urgent). Sockets that have not
  // got so far (a crowd that sent a byte and stopped, say) do not hurry the node.
  let done: (() => void) | undefined;
  const admit = async () => {
    await options.admit?.();
    done = (config.turns ?? TurnBudget.shared).urgent();
  };
  try {
    // A banned peer is refused as soon as Noise gives its key, before anything more of ours is written.
    const secure = await config.channel.secureInbound(raw, {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(config.isBannedNoiseKey ? { isBannedNoiseKey: config.isBannedNoiseKey } : {}),
      admit,
    });
    return await finish(config, secure, false, options);
  } finally {
    done?.();
  }
}
