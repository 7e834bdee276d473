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
import { TcommsError, TimeoutError, AbortedError } from '../core/errors.js';
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
import type { YamuxConfig } from '../protocols/yamux/config.js';
import { negotiateInbound, negotiateOutbound } from './negotiate.js';
import type { NoiseSecureChannel } from './secure-channel.js';
import { YamuxMuxer } from './yamux/muxer.js';
import type { YamuxStream } from './yamux/stream.js';

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
}

/** Per-upgrade options. */
export interface UpgradeOptions {
  signal?: AbortSignal;
  /** Outbound only: the peer's public key, checked in Noise (before revealing ours) and in its identity. */
  dialedPublicKey?: PublicKey;
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

/** Writes our frame, ends our side, reads the peer's frame to its FIN, all within the deadline. */
function exchangeIdentity(stream: YamuxStream, ours: Uint8Array, deadline: Promise<never>): Promise<Uint8Array> {
  const reader = new IdentityFrameReader();
  const read = new Promise<Uint8Array>((resolve, reject) => {
    let settled = false;
    stream.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        settled = true;
        reject(err);
      }
    });
    stream.once('end', () => {
      settled = true;
      try {
        resolve(reader.end());
      } catch (err) {
        reject(err);
      }
    });
    stream.once('error', (err) => {
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

function deadlineAfter(ms: number, what: string): { promise: Promise<never>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new IdentityTimeout(`${what}: no identity within ${ms} ms`)), ms);
  });
  promise.catch(() => {});
  return { promise, cancel: () => clearTimeout(timer) };
}

const systemNow = () => BigInt(Math.floor(Date.now() / 1000));

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
    onStream: (stream) => {
      if (resolveFirst) {
        const first = resolveFirst;
        resolveFirst = undefined;
        first(stream);
      } else held.accept(stream);
    },
  });
  const onAbort = () => muxer.abort(new AbortedError('upgrade aborted'));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const ours = ourIdentityMessage(config);
    let stream: YamuxStream;
    if (initiator) {
      stream = muxer.newStream();
      await negotiateOutbound(stream, [IDENTITY_PROTOCOL], { optimistic: true });
    } else {
      stream = await Promise.race([identityStream!, deadline.promise]);
      // A responder whose first substream is not the identity protocol closes the connection.
      await Promise.race([negotiateInbound(stream, new Set([IDENTITY_PROTOCOL])), deadline.promise]);
    }
    const theirs = await exchangeIdentity(stream, ours, deadline.promise);
    const peer = validateIdentityMessage(theirs, {
      noiseStatic: secure.remoteStatic,
      nowSeconds: (config.nowSeconds ?? systemNow)(),
      ...(options.dialedPublicKey ? { dialedPublicKey: options.dialedPublicKey } : {}),
      allowMemory: config.allowMemoryAddresses ?? false,
    });
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
  // The wire byte leaves with the first Noise message, in one write.
  const secure = await config.channel.secureOutbound(raw, {
    preamble: Uint8Array.of(config.channel.networkByte),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.dialedPublicKey ? { dialedPublicKey: options.dialedPublicKey } : {}),
  });
  return finish(config, secure, true, options);
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
  const secure = await config.channel.secureInbound(raw, options.signal ? { signal: options.signal } : {});
  return finish(config, secure, false, options);
}
