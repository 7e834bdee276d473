/** Typed identity-exchange errors: every one is a protocol violation by the peer. */
import { ProtocolError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';

/** Why an identity was refused (the `reason` names of `tcomms-identity.json`). */
export type IdentityInvalidReason =
  | 'frame'
  | 'protobuf'
  | 'no_public_key'
  | 'public_key_length'
  | 'public_key_invalid'
  | 'public_key_mismatch'
  | 'dialed_key_mismatch'
  | 'no_signature'
  | 'signature_version'
  | 'signature'
  | 'updated_at'
  | 'address_count'
  | 'address'
  | 'protocols'
  | 'user_agent';

/** The peer's identity message breaks a rule of section 5; `reason` says which. */
export class IdentityInvalid extends ProtocolError {
  /**
   * The peer's key, when Noise proved the peer holds it and the claim failed for another reason
   * (signature, timestamp, addresses, ...): a peer to hold accountable (ban), not an impostor.
   */
  publicKey: PublicKey | undefined;

  constructor(
    readonly reason: IdentityInvalidReason,
    detail: string,
    init: { cause?: unknown } = {},
  ) {
    super(`invalid identity (${reason}): ${detail}`, init);
  }
}
