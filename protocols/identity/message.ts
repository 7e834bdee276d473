/**
 * Building and checking `PeerIdentityMsg` (PROTOCOL.md section 5). Senders write the canonical
 * encoding (protobuf-es writes fields in number order and omits defaults); receivers accept any
 * valid encoding, ignore unknown fields, and apply every rule, each failure an
 * {@link IdentityInvalid} with the rule's reason.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { decodeStrict } from '../protobuf/index.js';
import { InvalidAddress, parseAddress, type PeerAddress } from '../../core/address.js';
import { equals } from '../../core/bytes.js';
import { isValidEd25519PublicKey, montgomeryUMatches } from '../../core/ed25519-point.js';
import { nodeIdOf, type NodeId, type NodeIdentity, type PublicKey } from '../../core/keys.js';
import { IdentitySignatureSchema, PeerIdentityMsgSchema, type IdentitySignature } from '../../proto/gen/tcomms/identity_pb.js';
import { IdentityInvalid } from './errors.js';
import { identityChallenge, SIGNATURE_VERSION, verifyIdentitySignature } from './signature.js';

/** Addresses an identity may claim (section 5: 0..5). */
export const MAX_ADDRESSES = 5;
/** Protocol ids an identity may advertise (section 5: 20). */
export const MAX_PROTOCOLS = 20;
/** Longest advertised protocol id in bytes (section 5: 50). */
export const MAX_PROTOCOL_ID_BYTES = 50;
/** Longest user agent in bytes (section 5). */
export const MAX_USER_AGENT_BYTES = 50;
/** How far in the future (seconds) a claim's `updated_at` may be. */
export const MAX_CLOCK_SKEW_SECONDS = 86_400n;

/** What a node says about itself. */
export interface IdentityContent {
  /** Binary multiaddrs (see `addressToBytes`). */
  addresses: Uint8Array[];
  features: number;
  supportedProtocols: string[];
  userAgent: string;
  /** Unix seconds. */
  updatedAt: bigint;
}

/** A checked identity. */
export interface ValidatedIdentity extends IdentityContent {
  publicKey: PublicKey;
  nodeId: NodeId;
  /** The addresses, parsed (same order as `addresses`). */
  parsedAddresses: PeerAddress[];
  signatureVersion: number;
  signature: Uint8Array;
}

/** What a received identity is checked against. */
export interface ValidateIdentityOptions {
  /** The peer's Noise static key from the handshake. */
  noiseStatic: Uint8Array;
  /** The receiver's clock, unix seconds. */
  nowSeconds: bigint;
  /** Set by a dialer that dialed a public key: the identity must name exactly that key. */
  dialedPublicKey?: Uint8Array;
  /** Accept `/memory` addresses (test networks only). */
  allowMemory?: boolean;
}

const utf8Length = (s: string) => Buffer.byteLength(s, 'utf8');

/** Signs `content` with `identity` and encodes the message canonically. */
export function createIdentityMessage(identity: NodeIdentity, content: IdentityContent): Uint8Array {
  const signed = { publicKey: identity.publicKey, version: SIGNATURE_VERSION, updatedAt: content.updatedAt, features: content.features, addresses: content.addresses };
  const signature = identity.sign(identityChallenge(signed));
  const message = create(PeerIdentityMsgSchema, {
    addresses: content.addresses,
    features: content.features,
    supportedProtocols: content.supportedProtocols,
    userAgent: content.userAgent,
    signature: create(IdentitySignatureSchema, { version: SIGNATURE_VERSION, signature, updatedAt: content.updatedAt }),
    publicKey: identity.publicKey,
  });
  return toBinary(PeerIdentityMsgSchema, message);
}

/** Decodes and checks a peer's identity message against every rule of section 5. */
export function validateIdentityMessage(bytes: Uint8Array, options: ValidateIdentityOptions): ValidatedIdentity {
  let msg;
  try {
    // Strict: a field with the wrong wire type is not a valid encoding (protobuf-es would read it).
    msg = decodeStrict(PeerIdentityMsgSchema, bytes);
  } catch (cause) {
    throw new IdentityInvalid('protobuf', `not a PeerIdentityMsg (${(cause as Error).message})`, { cause });
  }
  const pk = msg.publicKey;
  if (pk.length === 0) throw new IdentityInvalid('no_public_key', 'public_key is missing');
  if (pk.length !== 32) throw new IdentityInvalid('public_key_length', `public_key is ${pk.length} bytes`);
  // The cheap check first (a field multiplication, a few us): the claimed key's X25519 form must
  // be the static key the peer proved it holds in Noise. Only a key that passes it gets the
  // validity check (a subgroup check, about 1.3 ms; its verdicts are cached both ways), so a
  // peer cannot make this node check keys other than the one it authenticated with.
  if (!montgomeryUMatches(pk, options.noiseStatic)) {
    throw new IdentityInvalid('public_key_mismatch', "public_key's X25519 form is not the peer's Noise static key");
  }
  if (!isValidEd25519PublicKey(pk)) throw new IdentityInvalid('public_key_invalid', 'public_key is not a valid Ed25519 key');
  const publicKey = Uint8Array.from(pk) as PublicKey;
  if (options.dialedPublicKey !== undefined && !equals(options.dialedPublicKey, publicKey)) {
    throw new IdentityInvalid('dialed_key_mismatch', 'the identity names a key other than the one dialed');
  }
  try {
    return validateClaim(msg, publicKey, options);
  } catch (err) {
    // The key is the peer's (Noise proved it): its invalid claim is the peer's own violation.
    if (err instanceof IdentityInvalid) err.publicKey = publicKey;
    throw err;
  }
}

/**
 * The signed claim of an identity: the fields of a `PeerIdentityMsg`, or of a relayed DHT
 * `PeerClaim` (PROTOCOL.md 9.5), which carries no protocol list.
 */
export interface ClaimFields {
  addresses: readonly Uint8Array[];
  features: number;
  supportedProtocols?: readonly string[];
  userAgent: string;
  signature?: IdentitySignature | undefined;
}

/** What a claim is checked against, beside its (already validated) key. */
export type ClaimOptions = Pick<ValidateIdentityOptions, 'nowSeconds' | 'allowMemory'>;

/**
 * Checks the claim of `publicKey`, which the caller has already found valid (section 0), against
 * the rest of section 5: signature present and version 0, `updated_at`, addresses, protocol ids,
 * user agent, then the signature. Throws {@link IdentityInvalid} with the first rule broken.
 */
export function validateClaim(msg: ClaimFields, publicKey: PublicKey, options: ClaimOptions): ValidatedIdentity {
  const sig = msg.signature;
  if (sig === undefined) throw new IdentityInvalid('no_signature', 'signature is missing');
  if (sig.version !== SIGNATURE_VERSION) throw new IdentityInvalid('signature_version', `signature version ${sig.version}`);
  const updatedAt = BigInt(sig.updatedAt);
  if (updatedAt < 0n || updatedAt > options.nowSeconds + MAX_CLOCK_SKEW_SECONDS) {
    throw new IdentityInvalid('updated_at', `updated_at ${updatedAt} is outside 0..now+${MAX_CLOCK_SKEW_SECONDS}`);
  }
  if (msg.addresses.length > MAX_ADDRESSES) throw new IdentityInvalid('address_count', `${msg.addresses.length} addresses (0..${MAX_ADDRESSES})`);
  const parsedAddresses = msg.addresses.map((a, i) => {
    try {
      return parseAddress(a, { allowMemory: options.allowMemory ?? false });
    } catch (cause) {
      if (cause instanceof InvalidAddress) throw new IdentityInvalid('address', `address ${i}: ${cause.reason}`, { cause });
      throw cause;
    }
  });
  const supportedProtocols = msg.supportedProtocols ?? [];
  if (supportedProtocols.length > MAX_PROTOCOLS) throw new IdentityInvalid('protocols', `${supportedProtocols.length} supported protocols (at most ${MAX_PROTOCOLS})`);
  for (const p of supportedProtocols) {
    if (utf8Length(p) > MAX_PROTOCOL_ID_BYTES) throw new IdentityInvalid('protocols', `a protocol id of ${utf8Length(p)} bytes (at most ${MAX_PROTOCOL_ID_BYTES})`);
  }
  if (utf8Length(msg.userAgent) > MAX_USER_AGENT_BYTES) throw new IdentityInvalid('user_agent', `user_agent of ${utf8Length(msg.userAgent)} bytes (at most ${MAX_USER_AGENT_BYTES})`);
  const signed = { publicKey, version: sig.version, updatedAt, features: msg.features, addresses: msg.addresses };
  if (!verifyIdentitySignature(signed, sig.signature)) throw new IdentityInvalid('signature', 'the signature does not verify under public_key');
  return {
    publicKey,
    nodeId: nodeIdOf(publicKey),
    addresses: msg.addresses.map((a) => Uint8Array.from(a)),
    parsedAddresses,
    features: msg.features,
    supportedProtocols: [...supportedProtocols],
    userAgent: msg.userAgent,
    updatedAt,
    signatureVersion: sig.version,
    signature: Uint8Array.from(sig.signature),
  };
}
