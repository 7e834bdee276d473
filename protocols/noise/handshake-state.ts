/**
 * Noise HandshakeState (specification section 5.3), generic over the patterns in
 * {@link PATTERNS}. Sans-I/O: messages in, messages out. Snapshots let a worker run a step.
 */
import { concat } from '../../core/bytes.js';
import { LowOrderPoint, type CryptoProvider, type CryptoProviderName, type X25519KeyPair } from '../../core/crypto/provider.js';
import { CipherState } from './cipher-state.js';
import { HandshakeMisuse, NoiseMessageLength } from './errors.js';
import { messageLength, PATTERNS, protocolName, type HandshakePattern, type PatternName, type Token } from './patterns.js';
import { SymmetricState } from './symmetric-state.js';

const DH_LENGTH = 32;

/** Options of a handshake. */
export interface HandshakeInit {
  pattern: PatternName;
  initiator: boolean;
  prologue: Uint8Array;
  /** Local static key pair (every supported pattern has one on both sides). */
  staticKeys: X25519KeyPair;
  /** Remote static public key when known beforehand (IK responder pre-message). */
  remoteStatic?: Uint8Array;
  /** A fixed ephemeral key pair: for known-answer tests only. */
  ephemeralKeys?: X25519KeyPair;
  /**
   * Where fresh ephemeral key pairs come from (default: the provider's `x25519Generate`). Each
   * call must return a new, never used key pair: a reserve made ahead of time on another
   * thread, say.
   */
  ephemeralSource?: () => X25519KeyPair;
}

/** The transport ciphers and the handshake hash of a completed handshake. */
export interface HandshakeResult {
  send: CipherState;
  recv: CipherState;
  handshakeHash: Uint8Array;
  remoteStatic: Uint8Array;
}

/** Everything needed to resume a handshake on another thread (contains secrets: never log). */
export interface HandshakeSnapshot {
  provider: CryptoProviderName;
  pattern: PatternName;
  initiator: boolean;
  messageIndex: number;
  ck: Uint8Array;
  h: Uint8Array;
  k: Uint8Array | undefined;
  n: bigint;
  s: X25519KeyPair;
  e: X25519KeyPair | undefined;
  rs: Uint8Array | undefined;
  re: Uint8Array | undefined;
  fixedEphemeral: X25519KeyPair | undefined;
}

/** The Noise HandshakeState for a supported pattern; deterministic given its keys, snapshot-able. */
export class HandshakeState {
  readonly pattern: HandshakePattern;
  readonly initiator: boolean;
  #messageIndex = 0;
  readonly #ss: SymmetricState;
  readonly #s: X25519KeyPair;
  #e: X25519KeyPair | undefined;
  #rs: Uint8Array | undefined;
  #re: Uint8Array | undefined;
  readonly #fixedEphemeral: X25519KeyPair | undefined;
  readonly #ephemeralSource: (() => X25519KeyPair) | undefined;

  constructor(readonly provider: CryptoProvider, init: HandshakeInit | HandshakeSnapshot) {
    if ('messageIndex' in init) {
      this.pattern = PATTERNS[init.pattern];
      this.initiator = init.initiator;
      this.#messageIndex = init.messageIndex;
      this.#ss = new SymmetricState(provider, { ck: init.ck, h: init.h });
      this.#ss.cipher.initializeKey(init.k);
      this.#ss.cipher.nonce = init.n;
      this.#s = init.s;
      this.#e = init.e;
      this.#rs = init.rs;
      this.#re = init.re;
      this.#fixedEphemeral = init.fixedEphemeral;
      this.#ephemeralSource = undefined;
      return;
    }
    this.pattern = PATTERNS[init.pattern];
    this.initiator = init.initiator;
    this.#s = init.staticKeys;
    this.#rs = init.remoteStatic;
    this.#fixedEphemeral = init.ephemeralKeys;
    this.#ephemeralSource = init.ephemeralSource;
    this.#ss = new SymmetricState(provider, protocolName(init.pattern));
    this.#ss.mixHash(init.prologue);
    this.#mixPreMessage(this.pattern.initiatorPre, this.initiator);
    this.#mixPreMessage(this.pattern.responderPre, !this.initiator);
  }

  #mixPreMessage(tokens: readonly Token[], mine: boolean): void {
    for (const t of tokens) {
      if (t !== 's') throw new HandshakeMisuse(`unsupported pre-message token ${t}`);
      const key = mine ? this.#s.publicKey : this.#rs;
      if (key === undefined) throw new HandshakeMisuse('pattern needs the remote static key beforehand');
      this.#ss.mixHash(key);
    }
  }

  /** Index of the next message (0-based). */
  get messageIndex(): number {
    return this.#messageIndex;
  }

  /** True when every pattern message has been written or read. */
  get complete(): boolean {
    return this.#messageIndex >= this.pattern.messages.length;
  }

  /** True when the next message is ours to write. */
  get isMyTurn(): boolean {
    return !this.complete && (this.#messageIndex % 2 === 0) === this.initiator;
  }

  /** The remote static key once received (or given beforehand). */
  get remoteStatic(): Uint8Array | undefined {
    return this.#rs;
  }

  /** Our ephemeral key pair once made (contains its secret: never log). */
  get localEphemeral(): X25519KeyPair | undefined {
    return this.#e;
  }

  /** The current handshake hash h. */
  get handshakeHash(): Uint8Array {
    return this.#ss.h;
  }

  #dhOperands(token: Token): DhRequest {
    // For 'es' the initiator uses e with rs; the responder s with re (and mirrored for 'se').
    const [mine, theirs] = dhOperands(token, this.initiator);
    const own = mine === 'e' ? this.#e : this.#s;
    const remote = theirs === 'e' ? this.#re : this.#rs;
    if (own === undefined || remote === undefined) throw new HandshakeMisuse(`missing key for ${token}`);
    return { own, remote, ephemeral: mine === 'e' };
  }

  /** Write the next handshake message with `payload`. */
  writeMessage(payload: Uint8Array = new Uint8Array(0)): Uint8Array {
    return this.#drive(this.writeSteps(payload));
  }

  /**
   * Read the next handshake message; returns its payload. Throws NoiseMessageLength when the
   * message is too short to hold its tokens, DecryptionFailed or LowOrderPoint on bad content.
   */
  readMessage(message: Uint8Array): Uint8Array {
    return this.#drive(this.readSteps(message));
  }

  #drive(steps: HandshakeSteps): Uint8Array {
    let step = steps.next();
    while (step.done !== true) step = steps.next(this.provider.x25519DH(step.value.own, step.value.remote));
    return step.value;
  }

  /**
   * {@link writeMessage} one step at a time: yields each DH the message needs, to be answered
   * with the shared secret (`next(shared)`), so that a driver may compute it elsewhere (a
   * worker thread); returns the message. The answer must be X25519(own, remote), and all zero
   * is refused here ({@link LowOrderPoint}) whoever computed it.
   */
  *writeSteps(payload: Uint8Array = new Uint8Array(0)): HandshakeSteps {
    if (!this.isMyTurn) throw new HandshakeMisuse('not our turn to write a handshake message');
    const parts: Uint8Array[] = [];
    for (const token of this.pattern.messages[this.#messageIndex]!) {
      if (token === 'e') {
        this.#e = this.#fixedEphemeral ?? this.#ephemeralSource?.() ?? this.provider.x25519Generate();
        parts.push(this.#e.publicKey);
        this.#ss.mixHash(this.#e.publicKey);
      } else if (token === 's') {
        parts.push(this.#ss.encryptAndHash(this.#s.publicKey));
      } else {
        this.#ss.mixKey(checkShared(yield this.#dhOperands(token)));
      }
    }
    parts.push(this.#ss.encryptAndHash(payload));
    this.#messageIndex++;
    return concat(parts);
  }

  /** {@link readMessage} one step at a time, as {@link writeSteps}; returns the payload. */
  *readSteps(message: Uint8Array): HandshakeSteps {
    if (this.complete || this.isMyTurn) throw new HandshakeMisuse('not our turn to read a handshake message');
    const tokens = this.pattern.messages[this.#messageIndex]!;
    const minimum = messageLength(tokens, this.#ss.cipher.hasKey(), 0).length;
    if (message.length < minimum) throw new NoiseMessageLength(minimum, message.length, this.#messageIndex);
    let offset = 0;
    for (const token of tokens) {
      if (token === 'e') {
        this.#re = message.slice(offset, offset + DH_LENGTH);
        offset += DH_LENGTH;
        this.#ss.mixHash(this.#re);
      } else if (token === 's') {
        const len = this.#ss.cipher.hasKey() ? DH_LENGTH + 16 : DH_LENGTH;
        this.#rs = Uint8Array.from(this.#ss.decryptAndHash(message.subarray(offset, offset + len)));
        offset += len;
      } else {
        this.#ss.mixKey(checkShared(yield this.#dhOperands(token)));
      }
    }
    const payload = this.#ss.decryptAndHash(message.subarray(offset));
    this.#messageIndex++;
    return payload;
  }

  /** Split into transport ciphers; only once the handshake is complete. */
  split(): HandshakeResult {
    if (!this.complete) throw new HandshakeMisuse('handshake is not complete');
    if (this.#rs === undefined) throw new HandshakeMisuse('no remote static key');
    const [k1, k2] = this.#ss.split();
    const c1 = new CipherState(this.provider, k1);
    const c2 = new CipherState(this.provider, k2);
    return {
      send: this.initiator ? c1 : c2,
      recv: this.initiator ? c2 : c1,
      handshakeHash: this.#ss.h,
      remoteStatic: this.#rs,
    };
  }

  /** A structured-clone-safe copy of the whole state (contains secrets). */
  snapshot(): HandshakeSnapshot {
    return {
      provider: this.provider.name,
      pattern: this.pattern.name,
      initiator: this.initiator,
      messageIndex: this.#messageIndex,
      ck: this.#ss.ck,
      h: this.#ss.h,
      k: this.#ss.cipher.key,
      n: this.#ss.cipher.nonce,
      s: { publicKey: this.#s.publicKey, secretKey: this.#s.secretKey },
      e: this.#e === undefined ? undefined : { publicKey: this.#e.publicKey, secretKey: this.#e.secretKey },
      rs: this.#rs,
      re: this.#re,
      fixedEphemeral: this.#fixedEphemeral,
    };
  }
}

/** One DH a handshake step needs: X25519(own.secretKey, remote). */
export interface DhRequest {
  own: X25519KeyPair;
  remote: Uint8Array;
  /** True when `own` is this handshake's ephemeral key pair (false: the static one). */
  ephemeral: boolean;
}

/** The steps of one handshake message: yields DH requests, answered with shared secrets; returns the message or payload. */
export type HandshakeSteps = Generator<DhRequest, Uint8Array, Uint8Array>;

/** A DH answer must be 32 bytes and not all zero (a low-order remote key). */
function checkShared(shared: Uint8Array): Uint8Array {
  if (shared === undefined || shared.length !== DH_LENGTH) throw new HandshakeMisuse('a DH step was answered without a 32-byte shared secret');
  let any = 0;
  for (let i = 0; i < DH_LENGTH; i++) any |= shared[i]!;
  if (any === 0) throw new LowOrderPoint();
  return shared;
}

function dhOperands(token: Token, initiator: boolean): ['e' | 's', 'e' | 's'] {
  const first = token[0] as 'e' | 's';
  const second = token[1] as 'e' | 's';
  return initiator ? [first, second] : [second, first];
}
