/**
 * The Noise secure channel of PROTOCOL.md section 2: turns a raw Duplex (after the wire byte)
 * into an encrypted {@link SecureDuplex}, as initiator or responder.
 */
import type { Duplex } from 'node:stream';
import { nativeProvider } from '../core/crypto/native.js';
import type { CryptoProvider, X25519KeyPair } from '../core/crypto/provider.js';
import { concat } from '../core/bytes.js';
import { ConfigError, stackless } from '../core/errors.js';
import type { NodeIdentity } from '../core/keys.js';
import { x25519PublicOf, type PublicKey } from '../core/keys.js';
import { encodeU16Frame, U16FrameDecoder } from '../protocols/framing/u16-frame-decoder.js';
import type { HandshakeInit } from '../protocols/noise/handshake-state.js';
import { MAX_CIPHERTEXT } from '../protocols/noise/transport.js';
import { UnexpectedEof } from '../protocols/noise/errors.js';
import {
  assertNetworkByte,
  assertTcommsPattern,
  checkDialedKey,
  checkEmptyPayload,
  checkHandshakeLength,
  tcommsHandshakeLength,
  tcommsHandshakeMessages,
  tcommsPrologue,
  type TcommsPattern,
} from '../protocols/noise/tcomms.js';
import type { TaskExecutor } from '../workers/executor.js';
import { X25519Service } from '../workers/x25519-service.js';
import { DEFAULT_CRYPTO_POLICY, validateCryptoPolicy, type CryptoPolicy } from './crypto-policy.js';
import { HandshakeAborted, PeerBanned } from './errors.js';
import { FrameReader } from './frame-reader.js';
import { InlineHandshakeEngine, PooledHandshakeEngine, ServiceHandshakeEngine, type HandshakeEngine } from './handshake-engine.js';
import { SecureDuplex } from './secure-duplex.js';
import type { TurnBudget } from './turn-budget.js';

/** Defaults of a secure channel (PROTOCOL.md section 2). */
export const DEFAULT_SECURE_CHANNEL_CONFIG = Object.freeze({
  /** XX hides both static keys from passive observers and the initiator's from impostors. */
  pattern: 'XX' as TcommsPattern,
  /** The main network. */
  networkByte: 0,
  /** `noiseHandshakeRecvTimeout`: each handshake receive waits at most this long. */
  recvTimeoutMs: 6_000,
});

/** Construction options of a {@link NoiseSecureChannel}. */
export interface NoiseSecureChannelInit {
  /** Local static key pair (see {@link noiseStaticKeys}). */
  staticKeys: X25519KeyPair;
  pattern?: TcommsPattern;
  networkByte?: number;
  provider?: CryptoProvider;
  /** The worker pool, used where {@link policy} says. */
  executor?: TaskExecutor;
  policy?: Partial<CryptoPolicy>;
  recvTimeoutMs?: number;
  /** Buffering of each side of the encrypted stream, in bytes. */
  highWaterMark?: number;
  /** The bytes per turn of the event loop that its established channels process, shared with the node's muxers (default: the process's, {@link TurnBudget.shared}). */
  turns?: TurnBudget;
}

/** Per-upgrade options. */
export interface SecureOptions {
  signal?: AbortSignal;
  /**
   * Initiator only: the Ed25519 public key that was dialed. The responder's static key must be
   * its X25519 form, checked before the initiator reveals its own key (XX).
   */
  dialedPublicKey?: PublicKey;
  /** Fixed ephemeral keys: for known-answer tests only. */
  ephemeralKeys?: X25519KeyPair;
  /**
   * Initiator only: bytes to send just before the first handshake message, in the same write
   * (the wire byte of PROTOCOL.md section 1): one segment and one wake-up of the responder
   * instead of two.
   */
  preamble?: Uint8Array;
  /**
   * Asked as soon as the peer's static key (X25519) is known, before this side writes another
   * byte (XX responder: after message 3, so nothing follows; IX responder: after message 1,
   * before message 2). True: the socket is destroyed and the handshake fails with PeerBanned.
   */
  isBannedNoiseKey?: (x25519Static: Uint8Array) => boolean;
  /**
   * Responder only: awaited once the peer's first handshake message is in, whole and of its
   * legal length, before this side makes its handshake state, a key or a DH, or writes a byte:
   * where a listener takes an upgrade slot, so that a socket that sent the wire byte and
   * stopped holds none. A rejection fails the handshake with its error.
   */
  admit?: () => Promise<void>;
}

/** A secure channel upgrader, the interface the compliance suite tests. */
export interface SecureChannel {
  secureOutbound(raw: Duplex, options?: SecureOptions): Promise<SecureDuplex>;
  secureInbound(raw: Duplex, options?: SecureOptions): Promise<SecureDuplex>;
}

/** The Noise static key pair of a node identity (the X25519 form of its Ed25519 keys). */
export function noiseStaticKeys(identity: NodeIdentity, provider: CryptoProvider = nativeProvider): X25519KeyPair {
  return provider.x25519FromSecret(identity.noiseStaticSecret());
}

/**
 * Whether a channel with `policy` on `executor` uses the {@link X25519Service}: the policy asks
 * for it, the handshake does not go to the pool whole, the executor is a pool, and the service
 * can have a thread to itself (it holds one for good: with transport frames also sent to the
 * pool, the pool needs two threads or more, or those tasks would wait forever).
 */
export function usesX25519Service(policy: CryptoPolicy, executor: TaskExecutor | undefined): boolean {
  if (executor === undefined || executor.kind !== 'pool' || !policy.x25519OnPool || policy.handshakeOnPool) return false;
  return policy.bulkPoolThreshold === Number.POSITIVE_INFINITY || executor.threads >= 2;
}

/** tcomms Noise over any Duplex. */
export class NoiseSecureChannel implements SecureChannel {
  readonly pattern: TcommsPattern;
  readonly networkByte: number;
  readonly provider: CryptoProvider;
  readonly policy: CryptoPolicy;
  readonly recvTimeoutMs: number;
  readonly #init: NoiseSecureChannelInit;
  readonly #prologue: Uint8Array;
  /** Key pairs and DH on the pool, when the policy asks for them (shared by every channel on the same executor). */
  readonly x25519Service: X25519Service | undefined;

  constructor(init: NoiseSecureChannelInit) {
    this.pattern = init.pattern ?? DEFAULT_SECURE_CHANNEL_CONFIG.pattern;
    assertTcommsPattern(this.pattern);
    this.networkByte = init.networkByte ?? DEFAULT_SECURE_CHANNEL_CONFIG.networkByte;
    assertNetworkByte(this.networkByte);
    this.provider = init.provider ?? nativeProvider;
    this.policy = validateCryptoPolicy({ ...DEFAULT_CRYPTO_POLICY, ...init.policy });
    this.recvTimeoutMs = init.recvTimeoutMs ?? DEFAULT_SECURE_CHANNEL_CONFIG.recvTimeoutMs;
    if (!(this.recvTimeoutMs > 0)) throw new ConfigError('recvTimeoutMs must be > 0');
    if (init.staticKeys.publicKey.length !== 32 || init.staticKeys.secretKey.length !== 32) {
      throw new ConfigError('staticKeys must be a 32-byte X25519 key pair');
    }
    this.#init = init;
    this.#prologue = tcommsPrologue(this.networkByte);
    this.x25519Service = usesX25519Service(this.policy, init.executor) ? X25519Service.shared(init.executor!, this.provider) : undefined;
  }

  secureOutbound(raw: Duplex, options: SecureOptions = {}): Promise<SecureDuplex> {
    return this.#handshake(raw, true, options);
  }

  secureInbound(raw: Duplex, options: SecureOptions = {}): Promise<SecureDuplex> {
    return this.#handshake(raw, false, options);
  }

  #engine(initiator: boolean, options: SecureOptions): HandshakeEngine {
    const init: HandshakeInit = {
      pattern: this.pattern,
      initiator,
      prologue: this.#prologue,
      staticKeys: this.#init.staticKeys,
      ...(options.ephemeralKeys === undefined ? {} : { ephemeralKeys: options.ephemeralKeys }),
    };
    const executor = this.#init.executor;
    if (executor !== undefined && this.policy.handshakeOnPool) return new PooledHandshakeEngine(this.provider, init, executor);
    if (this.x25519Service !== undefined) return new ServiceHandshakeEngine(this.provider, init, this.x25519Service);
    return new InlineHandshakeEngine(this.provider, init);
  }

  async #handshake(raw: Duplex, initiator: boolean, options: SecureOptions): Promise<SecureDuplex> {
    const expected = initiator && options.dialedPublicKey !== undefined ? x25519PublicOf(options.dialedPublicKey) : undefined;
    // A responder makes its handshake state (hashes, and with the X25519 service a task on the
    // pool later) only once the peer's first message is in: a socket that sends the wire byte
    // and stops costs a frame reader and its timer, nothing more.
    let engine = initiator ? this.#engine(initiator, options) : undefined;
    const decoder = new U16FrameDecoder(MAX_CIPHERTEXT);
    const count = tcommsHandshakeMessages(this.pattern);
    // Each handshake message the peer sends has one legal length: a longer one is refused as
    // soon as its length prefix arrives, before its body is buffered (transport frames after).
    decoder.expectFrames(peerHandshakeLengths(this.pattern, initiator));
    const reader = new FrameReader(raw, decoder);
    try {
      for (let index = 0; index < count; index++) {
        if ((index % 2 === 0) === initiator) {
          const message = await engine!.write();
          if (!raw.writable) throw new UnexpectedEof('the Noise handshake (the peer closed)');
          const frame = encodeU16Frame(message);
          if (index === count - 1) {
            // The last handshake message: what this side sends first over the channel (its
            // identity claim, within this turn of the event loop) joins it in one write.
            raw.cork();
            setImmediate(() => raw.uncork());
          }
          raw.write(index === 0 && options.preamble !== undefined ? concat([options.preamble, frame]) : frame);
        } else {
          const message = await reader.next(engine === undefined ? firstReceiveTimeout(this.recvTimeoutMs) : this.recvTimeoutMs, options.signal);
          checkHandshakeLength(this.pattern, index, message);
          if (engine === undefined) {
            await options.admit?.();
            if (options.signal?.aborted) throw stackless(() => new HandshakeAborted(options.signal!.reason));
            engine = this.#engine(initiator, options);
          }
          checkEmptyPayload(await engine.read(message));
          // As soon as the responder's static key is known, and before revealing ours (XX).
          if (initiator) checkDialedKey(expected, engine.remoteStatic);
          const rs = engine.remoteStatic;
          if (rs !== undefined && options.isBannedNoiseKey?.(rs) === true) throw new PeerBanned(Uint8Array.from(rs));
        }
      }
      const result = engine!.finish();
      const pending = reader.detach();
      return new SecureDuplex(raw, {
        send: result.send,
        recv: result.recv,
        remoteStatic: result.remoteStatic,
        handshakeHash: result.handshakeHash,
        decoder,
        pending,
        policy: this.policy,
        ...(this.#init.executor === undefined ? {} : { executor: this.#init.executor }),
        ...(this.#init.highWaterMark === undefined ? {} : { highWaterMark: this.#init.highWaterMark }),
        ...(this.#init.turns === undefined ? {} : { turns: this.#init.turns }),
      });
    } catch (err) {
      engine?.release();
      reader.detach();
      // A write still in flight may fail after this: never let that be an unhandled 'error'.
      raw.on('error', ignore);
      raw.destroy();
      throw err;
    }
  }
}

function ignore(): void {}

/**
 * A responder's wait for the peer's first message: the receive timeout less up to a quarter, at
 * random (still "at most" the timeout, PROTOCOL.md section 2). A crowd of sockets that arrive
 * together and send nothing after the wire byte would otherwise time out in the same
 * millisecond, and their thousand closes and reports in one turn of the event loop delay
 * every other peer's I/O (bench:hostile: the slowest good connects came with each such wave,
 * and the crowd's reconnects came back at once, overflowing the listen queue). Less up to a
 * tenth still left waves of about 170 closes per 100 ms, with good connects of 160-410 ms in
 * them (1,000 wire-byte sockets from 50 addresses, load 2); a quarter spreads them over 1.5 s.
 */
export function firstReceiveTimeout(recvTimeoutMs: number, random: () => number = Math.random): number {
  return Math.max(1, recvTimeoutMs - Math.floor(random() * (recvTimeoutMs / 4)));
}

/** The lengths of the handshake messages the peer writes, in order. */
function peerHandshakeLengths(pattern: TcommsPattern, initiator: boolean): number[] {
  const out: number[] = [];
  for (let index = 0; index < tcommsHandshakeMessages(pattern); index++) if ((index % 2 === 0) !== initiator) out.push(tcommsHandshakeLength(pattern, index));
  return out;
}
