/**
 * The identity actor's mailbox and facts (PROTOCOL.md section 5): it holds the node's signed
 * identity claim, signs it again whenever what it claims changes, and answers requests for it.
 */
import type { Multiaddr } from '@multiformats/multiaddr';
import type { IdentityContent } from '../../protocols/identity/index.js';
import type { Mailbox } from '../mailbox.js';

/** The current claim: what it says and the encoded, signed `PeerIdentityMsg` sent in every upgrade. */
export interface SignedClaim {
  content: IdentityContent;
  message: Uint8Array;
}

/** The answer to `identity.get-claim`. */
export type IdentityReply = { type: 'identity.claim'; requestId: string } & SignedClaim;

/** What other actors may send the identity actor. */
export type IdentityInbox =
  /** The listeners are bound at these addresses (the claim names the dialable ones unless public addresses are configured). */
  | { type: 'identity.addresses-bound'; addresses: Multiaddr[] }
  /** The feature bits changed (PROTOCOL.md section 5: bit 0 propagation, bit 1 store-and-forward). */
  | { type: 'identity.features-changed'; features: number }
  /** The protocols served changed (advertised, not signed). */
  | { type: 'identity.protocols-changed'; protocols: string[] }
  | { type: 'identity.get-claim'; requestId: string; replyTo?: Mailbox<IdentityReply> }
  | { type: 'identity.stop' };

/** Everything the identity actor receives. */
export type IdentityEvent = IdentityInbox;

/** Facts and replies the identity actor emits. */
export type IdentityEmitted = IdentityReply | ({ type: 'identity.updated' } & SignedClaim);
