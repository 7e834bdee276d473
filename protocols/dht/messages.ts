/**
 * The bodies of PROTOCOL.md 9.5 and 9.7: encoding, decoding (any valid encoding, unknown fields
 * ignored, wire types checked) and the claim rules. Decoders throw {@link DhtDecodeError};
 * {@link checkPeerClaim} returns its verdict. Decoded bytes fields are views into the input.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { concat } from '../../core/bytes.js';
import { isValidEd25519PublicKey } from '../../core/ed25519-point.js';
import type { NodeIdentity, PublicKey } from '../../core/keys.js';
import { IdentitySignatureSchema } from '../../proto/gen/tcomms/identity_pb.js';
import {
  DiscoveryMessageSchema,
  DomainMessageSchema,
  PeerClaimSchema,
  SafRequestMessagesSchema,
  SafStoredMessagesSchema,
  type DiscoveryMessage,
  type DomainMessage,
  type PeerClaim,
  type SafRequestMessages,
} from '../../proto/gen/tcomms/dht/dht_pb.js';
import { IdentityInvalid, type IdentityInvalidReason } from '../identity/errors.js';
import { validateClaim, type ValidatedIdentity } from '../identity/message.js';
import { identityChallenge, SIGNATURE_VERSION } from '../identity/signature.js';
import { DhtDecodeError } from './errors.js';
import { checkWireTypes, decodeStrict } from './wire.js';

// --- DomainMessage ----------------------------------------------------------------------------

/** The fields of a `DomainMessage` (9.5). */
export interface DomainMessageInit {
  /** Application-defined. */
  messageType: number;
  /** Random, so that equal messages stay distinct (9.4). */
  nonce: bigint;
  payload: Uint8Array;
}

/** The canonical encoding of a `DomainMessage`. */
export function encodeDomainMessage(init: DomainMessageInit): Uint8Array {
  return toBinary(DomainMessageSchema, create(DomainMessageSchema, init));
}

/** Decodes a `DomainMessage`. */
export function decodeDomainMessage(bytes: Uint8Array): DomainMessage {
  return decodeStrict(DomainMessageSchema, bytes);
}

// --- PeerClaim --------------------------------------------------------------------------------

/** What a node claims about itself (the signed part of section 5, plus its user agent). */
export interface ClaimContent {
  /** Binary multiaddrs (0..5). */
  addresses: Uint8Array[];
  features: number;
  userAgent: string;
  /** Unix seconds. */
  updatedAt: bigint;
}

/** A claim that passed {@link checkPeerClaim}: the identity fields of section 5 without a protocol list. */
export type ValidatedClaim = Omit<ValidatedIdentity, 'supportedProtocols'>;

/** The verdict on a claim: valid (and whether the receiver ignores it, 9.5), or the rule of section 5 it breaks. */
export type ClaimCheck =
  | { readonly ok: true; readonly claim: ValidatedClaim; readonly ignored: boolean }
  | { readonly ok: false; readonly reason: IdentityInvalidReason; readonly detail: string };

/** Options of {@link checkPeerClaim}. */
export interface ClaimCheckOptions {
  /** The receiver's clock, unix seconds. */
  nowSeconds: bigint;
  /** The receiver accepts `/memory` addresses (test networks). */
  allowMemory?: boolean;
}

/** A claim signed by `identity` (section 5's signature, version 0). */
export function createPeerClaim(identity: NodeIdentity, content: ClaimContent): PeerClaim {
  const signed = { publicKey: identity.publicKey, version: SIGNATURE_VERSION, updatedAt: content.updatedAt, features: content.features, addresses: content.addresses };
  return create(PeerClaimSchema, {
    publicKey: identity.publicKey,
    addresses: content.addresses,
    features: content.features,
    signature: create(IdentitySignatureSchema, { version: SIGNATURE_VERSION, signature: identity.sign(identityChallenge(signed)), updatedAt: content.updatedAt }),
    userAgent: content.userAgent,
  });
}

/** The canonical encoding of a `PeerClaim`. */
export function encodePeerClaim(claim: PeerClaim): Uint8Array {
  return toBinary(PeerClaimSchema, claim);
}

/** Decodes a `PeerClaim` (strings must be valid UTF-8). */
export function decodePeerClaim(bytes: Uint8Array): PeerClaim {
  return decodeStrict(PeerClaimSchema, bytes);
}

/**
 * Checks a relayed claim (9.5): its key valid (section 0), then section 5's rules (signature
 * version, `updated_at` ≤ now + 86,400, 0..5 addresses by the address rules, user agent ≤ 50
 * bytes, the signature). A valid claim naming `/memory` for a receiver without test addresses is
 * `ignored` (not stored, no violation); a malformed `/memory` address is invalid either way.
 */
export function checkPeerClaim(claim: PeerClaim, options: ClaimCheckOptions): ClaimCheck {
  const pk = claim.publicKey;
  if (pk.length === 0) return { ok: false, reason: 'no_public_key', detail: 'public_key is missing' };
  if (pk.length !== 32) return { ok: false, reason: 'public_key_length', detail: `public_key is ${pk.length} bytes` };
  if (!isValidEd25519PublicKey(pk)) return { ok: false, reason: 'public_key_invalid', detail: 'public_key is not a valid Ed25519 key' };
  try {
    const validated = validateClaim(claim, pk as PublicKey, { nowSeconds: options.nowSeconds, allowMemory: true });
    const ignored = options.allowMemory !== true && validated.parsedAddresses.some((a) => a.kind === 'memory');
    return { ok: true, claim: validated, ignored };
  } catch (err) {
    if (err instanceof IdentityInvalid) return { ok: false, reason: err.reason, detail: err.message };
    throw err;
  }
}

// --- DiscoveryMessage -------------------------------------------------------------------------

/** The canonical encoding of a `DiscoveryMessage` (9.5): the sender's claim and a nonce. */
export function encodeDiscoveryMessage(init: { claim: PeerClaim; nonce: bigint }): Uint8Array {
  return toBinary(DiscoveryMessageSchema, create(DiscoveryMessageSchema, init));
}

/** Decodes a `DiscoveryMessage`. */
export function decodeDiscoveryMessage(bytes: Uint8Array): DiscoveryMessage {
  return decodeStrict(DiscoveryMessageSchema, bytes);
}

// --- Store-and-forward (9.7) ------------------------------------------------------------------

/** The canonical encoding of a `SafRequestMessages`. */
export function encodeSafRequest(init: { since: bigint; limit: number }): Uint8Array {
  return toBinary(SafRequestMessagesSchema, create(SafRequestMessagesSchema, init));
}

/** Decodes a `SafRequestMessages`. */
export function decodeSafRequest(bytes: Uint8Array): SafRequestMessages {
  return decodeStrict(SafRequestMessagesSchema, bytes);
}

/** One stored message: `stored_at` and the envelope as the server sent it (to judge with `judgeEnvelope`). */
export interface StoredEnvelope {
  readonly storedAt: bigint;
  /** The encoded `DhtEnvelope` (empty when the field is absent). */
  readonly envelope: Uint8Array;
}

/** The canonical encoding of a `SafStoredMessages`; each stored envelope is embedded as it is. */
export function encodeSafStoredMessages(messages: readonly StoredEnvelope[]): Uint8Array {
  const w = new BinaryWriter();
  for (const m of messages) {
    w.tag(1, WireType.LengthDelimited).fork();
    if (m.storedAt !== 0n) w.tag(1, WireType.Varint).uint64(m.storedAt);
    w.tag(2, WireType.LengthDelimited).bytes(m.envelope);
    w.join();
  }
  return w.finish();
}

/**
 * Decodes a `SafStoredMessages`, keeping each envelope's received bytes (views, no re-encoding):
 * the receiver judges each one as if the serving peer sent it (9.7). The whole message, nested
 * envelopes included, must be well formed; field values are checked by judging each envelope.
 */
export function decodeSafStoredMessages(bytes: Uint8Array): StoredEnvelope[] {
  checkWireTypes(SafStoredMessagesSchema, bytes);
  try {
    const r = new BinaryReader(bytes);
    const out: StoredEnvelope[] = [];
    while (r.pos < r.len) {
      const [no, wireType] = r.tag();
      if (no !== 1) {
        r.skip(wireType, no);
        continue;
      }
      const end = r.uint32() + r.pos;
      let storedAt = 0n;
      const parts: Uint8Array[] = [];
      while (r.pos < end) {
        const [field, type] = r.tag();
        if (field === 1) storedAt = BigInt(r.uint64());
        // A repeated embedded message merges, as the concatenation of its encodings does.
        else if (field === 2) parts.push(r.bytes());
        else r.skip(type, field);
      }
      out.push({ storedAt, envelope: parts.length === 1 ? parts[0]! : concat(parts) });
    }
    return out;
  } catch (cause) {
    throw new DhtDecodeError('SafStoredMessages', cause instanceof Error ? cause.message : String(cause), { cause });
  }
}
