/**
 * Sealed sender (PROTOCOL.md 9.3): a message only its destination can read, whose origin (if
 * any) only the destination learns. X25519, ChaCha20-Poly1305 and BLAKE2s come from the crypto
 * provider; Ed25519 is section 5's, with its strict verification.
 */
import { LowOrderPoint, DecryptionFailed, type CryptoProvider, type X25519KeyPair } from '../../core/crypto/provider.js';
import { isAllZero } from '../../core/bytes.js';
import { isValidEd25519PublicKey, knownEd25519KeyVerdict } from '../../core/ed25519-point.js';
import { ConfigError } from '../../core/errors.js';
import { x25519PublicOf, type NodeIdentity, type PublicKey } from '../../core/keys.js';
import { DhtMessageType, SealedMessageSchema } from '../../proto/gen/tcomms/dht/dht_pb.js';
import { bindingHash, dedupKey, sealKey, type BindingFields } from './binding.js';
import { FLAG_ENCRYPTED, SEAL_LENGTH_PREFIX, SEAL_NONCE, SEAL_PADDING_BLOCK } from './constants.js';
import { createHeader, encodeEnvelope, type BuiltEnvelope } from './envelope.js';
import { checkBody, type BodyOk, type RuleFailure } from './rules.js';
import { writeSealedMessage, sealedMessageLength, type SealedFields } from './sealed-message.js';
import { signerIdentity, verifyStrict, type DhtSigner } from './signing.js';
import type { DhtOpenFailure } from './verdict.js';
import { decodeStrict } from './wire.js';

/** A receiver's keys: its Ed25519 public key and the X25519 pair that opens sealed messages. */
export interface DhtReceiver {
  readonly publicKey: PublicKey;
  /** The X25519 form of the identity key pair (its Noise static pair). */
  readonly x25519: X25519KeyPair;
}

/** The receiver keys of `identity`; make them once and reuse them (a native provider keeps a key handle beside the pair). */
export function dhtReceiver(identity: NodeIdentity, provider: CryptoProvider): DhtReceiver {
  return { publicKey: identity.publicKey, x25519: provider.x25519FromSecret(identity.noiseStaticSecret()) };
}

/** The padded plaintext length for a SealedMessage of `n` bytes: the smallest multiple of 6,000 ≥ 4 + n (9.3). */
export function sealedPlaintextLength(n: number): number {
  return Math.ceil((SEAL_LENGTH_PREFIX + n) / SEAL_PADDING_BLOCK) * SEAL_PADDING_BLOCK;
}

/** The plaintext of 9.3: u32le(n) || the encoded SealedMessage (n bytes) || zero padding. */
export function sealedPlaintext(fields: SealedFields): Uint8Array {
  const n = sealedMessageLength(fields);
  const out = new Uint8Array(sealedPlaintextLength(n));
  new DataView(out.buffer).setUint32(0, n, true);
  writeSealedMessage(fields, out, SEAL_LENGTH_PREFIX);
  return out;
}

/** What a sealed envelope is built from. */
export interface SealInit {
  /** R: the destination's Ed25519 public key (must be valid). */
  recipient: Uint8Array;
  /** DOMAIN or DISCOVERY: the only types that may be ENCRYPTED (9.1). */
  messageType: DhtMessageType;
  /** Senders use now + 259,200 (see `defaultExpiry`). */
  expires: bigint;
  /** The body for `messageType` (9.5), e.g. an encoded DomainMessage. */
  innerBody: Uint8Array;
  /** The origin, who signs `binding(inner_body)`; anonymous when absent. DISCOVERY requires one. */
  origin?: DhtSigner;
  messageTag?: bigint;
  /** The ephemeral X25519 secret e, for known-answer tests only: by default a fresh one per message. */
  ephemeralSecret?: Uint8Array;
}

/**
 * Seals `init.innerBody` for `init.recipient` (9.3) and builds the envelope: destination R,
 * ENCRYPTED, ephemeral key E, no cleartext signature. Throws a ConfigError on a bad argument.
 */
export function sealEnvelope(provider: CryptoProvider, init: SealInit): BuiltEnvelope {
  const { recipient, messageType } = init;
  if (messageType !== DhtMessageType.DOMAIN && messageType !== DhtMessageType.DISCOVERY) throw new ConfigError('only DOMAIN and DISCOVERY messages are sealed');
  if (messageType === DhtMessageType.DISCOVERY && init.origin === undefined) throw new ConfigError('a DISCOVERY names its origin');
  if (init.expires < 0n || init.expires >= 1n << 64n) throw new ConfigError('expires is not a u64');
  if (!isValidEd25519PublicKey(recipient)) throw new ConfigError('the recipient is not a valid public key');
  const recipientX25519 = x25519PublicOf(recipient as PublicKey);
  const ephemeral = init.ephemeralSecret === undefined ? provider.x25519Generate() : provider.x25519FromSecret(init.ephemeralSecret);
  const sharedSecret = provider.x25519DH(ephemeral, recipientX25519);
  const header = createHeader({
    messageType,
    destination: recipient,
    flags: FLAG_ENCRYPTED,
    expires: init.expires,
    ephemeralPublicKey: ephemeral.publicKey,
    ...(init.messageTag === undefined ? {} : { messageTag: init.messageTag }),
  });
  const fields: SealedFields = { innerBody: init.innerBody };
  if (init.origin !== undefined) {
    const origin = signerIdentity(init.origin);
    fields.originPublicKey = origin.publicKey;
    fields.originSignature = origin.sign(bindingHash(provider, header, init.innerBody));
  }
  const key = sealKey(provider, sharedSecret, ephemeral.publicKey, recipientX25519);
  const body = provider.aeadSeal(key, SEAL_NONCE, bindingHash(provider, header), sealedPlaintext(fields));
  const binding = bindingHash(provider, header, body);
  return { envelope: encodeEnvelope(header, body), header, body, binding, dedupKey: dedupKey(provider, binding) };
}

/** A sealed body that opened and passed 9.3. */
export interface OpenedBody {
  readonly ok: true;
  /** The sealed origin; undefined when anonymous. */
  readonly origin: PublicKey | undefined;
  /** A view into the decrypted plaintext. */
  readonly innerBody: Uint8Array;
}

/** Why a sealed body did not open; `key_check_budget`: the origin key needed a full check the caller's budget refused (no rule of 9.3). */
type SealFailure = Extract<DhtOpenFailure, 'shared_secret_zero' | 'tag' | 'inner_length' | 'padding' | 'sealed_undecodable' | 'origin_fields' | 'origin_signature'> | 'key_check_budget';

const fail = (reason: SealFailure, detail = ''): RuleFailure<SealFailure> => ({ ok: false, reason, detail });

/**
 * Opens a sealed body for the receiver with the checks of 9.3, in order: ss ≠ 0, the tag,
 * 4 + n ≤ plaintext length < 4 + n + 6,000, zero padding, the SealedMessage decodes, the origin
 * fields (both empty, or a valid key and a verifying signature over `binding(inner_body)`).
 * The header must have passed 9.1 (an ENCRYPTED header for the receiver). Never throws on bad input.
 * `keyCheckAllowed`, when given, is asked before a full check of the origin's key (one not
 * checked lately): false gives `key_check_budget` without it.
 */
export function openSealedBody(
  provider: CryptoProvider,
  receiver: DhtReceiver,
  header: BindingFields,
  body: Uint8Array,
  keyCheckAllowed?: () => boolean,
): OpenedBody | RuleFailure<SealFailure> {
  const ephemeral = header.ephemeralPublicKey;
  let sharedSecret: Uint8Array;
  try {
    sharedSecret = provider.x25519DH(receiver.x25519, ephemeral);
  } catch (err) {
    if (err instanceof LowOrderPoint) return fail('shared_secret_zero', err.message);
    throw err;
  }
  if (isAllZero(sharedSecret)) return fail('shared_secret_zero');
  let plaintext: Uint8Array;
  try {
    plaintext = provider.aeadOpen(sealKey(provider, sharedSecret, ephemeral, receiver.x25519.publicKey), SEAL_NONCE, bindingHash(provider, header), body);
  } catch (err) {
    if (err instanceof DecryptionFailed) return fail('tag', err.message);
    throw err;
  }
  if (plaintext.length < SEAL_LENGTH_PREFIX) return fail('inner_length', `a ${plaintext.length}-byte plaintext`);
  const n = (plaintext[0]! | (plaintext[1]! << 8) | (plaintext[2]! << 16) | (plaintext[3]! << 24)) >>> 0;
  const end = SEAL_LENGTH_PREFIX + n;
  if (end > plaintext.length || plaintext.length - end >= SEAL_PADDING_BLOCK) return fail('inner_length', `n = ${n} with a ${plaintext.length}-byte plaintext`);
  if (!isAllZero(plaintext.subarray(end))) return fail('padding', 'non-zero padding');
  let sealed;
  try {
    sealed = decodeStrict(SealedMessageSchema, plaintext.subarray(SEAL_LENGTH_PREFIX, end));
  } catch (err) {
    return fail('sealed_undecodable', (err as Error).message);
  }
  const { originPublicKey: key, originSignature: signature, innerBody } = sealed;
  if (key.length === 0 && signature.length === 0) return { ok: true, origin: undefined, innerBody };
  if (key.length === 0 || signature.length === 0) return fail('origin_fields', 'origin_public_key and origin_signature must both be empty or both set');
  const valid = knownEd25519KeyVerdict(key) ?? (keyCheckAllowed === undefined || keyCheckAllowed() ? isValidEd25519PublicKey(key) : undefined);
  if (valid === undefined) return fail('key_check_budget', 'a full check of the origin key over the budget');
  if (!valid) return fail('origin_fields', 'origin_public_key is not a valid key');
  if (!verifyStrict(key, bindingHash(provider, header, innerBody), signature)) return fail('origin_signature', 'origin_signature does not verify');
  return { ok: true, origin: key as PublicKey, innerBody };
}

/** A sealed message for the receiver that opened and passed 9.3 and 9.5. */
export interface OpenedMessage extends BodyOk {
  readonly origin: PublicKey | undefined;
}

/** What the 9.5 rules of `inner_body` need beside the header. */
export interface OpenOptions {
  readonly nowSeconds: bigint;
  readonly allowMemory: boolean;
  /** Asked before a full check of the origin's key (see {@link openSealedBody}). */
  readonly keyCheckAllowed?: (() => boolean) | undefined;
}

/** {@link openSealedBody}, then 9.5 for `inner_body` (message type `header.messageType`). Never throws on bad input. */
export function openSealed(
  provider: CryptoProvider,
  receiver: DhtReceiver,
  header: BindingFields,
  body: Uint8Array,
  options: OpenOptions,
): OpenedMessage | RuleFailure<DhtOpenFailure | 'key_check_budget'> {
  const opened = openSealedBody(provider, receiver, header, body, options.keyCheckAllowed);
  if (!opened.ok) return opened;
  const checked = checkBody({ messageType: header.messageType, origin: opened.origin, nowSeconds: options.nowSeconds, allowMemory: options.allowMemory }, opened.innerBody);
  if (!checked.ok) return { ok: false, reason: checked.reason === 'undecodable' ? 'inner_body_undecodable' : checked.reason, detail: checked.detail };
  return { ...checked, origin: opened.origin };
}
