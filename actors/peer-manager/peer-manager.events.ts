/**
 * The peer manager's mailbox: commands (imperative, with a `requestId`), the facts it emits
 * (past tense), and the replies. Mailboxes carry control events only; peers are small records.
 */
import type { NodeId, PublicKey } from '../../core/keys.js';
import type { PlainError } from '../../core/errors.js';
import type { Peer, PeerSighting } from '../../storage/peer.js';
import type { PeerFilter } from '../../storage/peer-store.js';
import type { Mailbox } from '../mailbox.js';

/** A filter without its clock: the manager judges bans at its own `now`. */
export type QueryFilter = Omit<PeerFilter, 'now'>;

/** The most sightings one `peer.add-many` may carry (a `GetPeers` answer's largest). */
export const MAX_ADD_MANY = 1_000;

/** The answer to a command. */
export type PeerManagerReply =
  | { type: 'peer-manager.reply'; requestId: string; ok: true; result: Peer | Peer[] | undefined }
  | { type: 'peer-manager.reply'; requestId: string; ok: false; error: PlainError };

/** What every peer-manager command carries. */
export interface PeerManagerRequest {
  requestId: string;
  /** Where the reply goes; without it the reply is emitted as `peer-manager.reply`. */
  replyTo?: Mailbox<PeerManagerReply>;
}

/** The peer manager's commands. */
export type PeerManagerCommand =
  | (PeerManagerRequest & { type: 'peer.add'; sighting: PeerSighting })
  /**
   * Several sightings in one command (a peer sync's claims): one command, one reply (the peers,
   * in order) and one fact per peer, where `peer.add` each would cost a command and a reply.
   * At most `MAX_ADD_MANY` sightings; more are refused.
   */
  | (PeerManagerRequest & { type: 'peer.add-many'; sightings: readonly PeerSighting[] })
  | (PeerManagerRequest & { type: 'peer.find'; publicKey?: PublicKey; nodeId?: NodeId })
  | (PeerManagerRequest & { type: 'peer.closest'; target: NodeId; n: number; filter?: QueryFilter })
  | (PeerManagerRequest & { type: 'peer.random'; n: number; filter?: QueryFilter })
  | (PeerManagerRequest & { type: 'peer.ban'; publicKey: PublicKey; durationMs: number; reason: string })
  | (PeerManagerRequest & { type: 'peer.unban'; publicKey: PublicKey })
  | (PeerManagerRequest & { type: 'peer.delete'; publicKey: PublicKey })
  | (PeerManagerRequest & { type: 'peer.dial-attempted'; publicKey: PublicKey; address: string })
  /**
   * An attempt's outcome. With `attemptMs` (how long ago it began) the attempt itself is counted
   * in the same write, as the dial does: one store write per attempt, not two.
   */
  | (PeerManagerRequest & { type: 'peer.dial-succeeded'; publicKey: PublicKey; address: string; dialMs: number; latencyMs?: number; attemptMs?: number })
  | (PeerManagerRequest & { type: 'peer.dial-failed'; publicKey: PublicKey; address: string; reason: string; attemptMs?: number });

/** What other actors may send the peer manager (its public mailbox). */
export type PeerManagerInbox = PeerManagerCommand | { type: 'peer-manager.stop' };

/** Facts the manager publishes (`actor.on(type, ...)`). */
export type PeerManagerFact =
  | { type: 'peer.added'; peer: Peer }
  /** `before`: the record as it was (a follower can tell what changed). */
  | { type: 'peer.updated'; peer: Peer; before: Peer }
  | { type: 'peer.banned'; peer: Peer; until: number; reason: string }
  | { type: 'peer.unbanned'; peer: Peer }
  | { type: 'peer.offline'; peer: Peer }
  | { type: 'peer.online'; peer: Peer }
  /**
   * A record left the queries: deleted by a `peer.delete` (kept soft-deleted), or evicted for
   * good by the store to make room (an unverified record, learned only from relayed claims, past
   * the store's `maxUnverified`). Followers forget the peer (the DHT pools drop it).
   */
  | { type: 'peer.deleted'; peer: Peer; reason: 'deleted' | 'evicted' };

/** Work the manager gives itself: a ban whose time has come. */
export type InternalWork = { type: 'ban.expired'; requestId: string; publicKey: PublicKey };

/** What the store worker sends back. */
export type WorkerResult =
  | { type: 'store.done'; request: PeerManagerCommand | InternalWork; result: Peer | Peer[] | undefined; facts: PeerManagerFact[] }
  /** `facts`: of the records a failed command wrote all the same (a `peer.add-many`), published with the failure. */
  | { type: 'store.failed'; request: PeerManagerCommand | InternalWork; error: PlainError; facts?: PeerManagerFact[] }
  | { type: 'store.closed' };

/** Everything the peer manager receives. */
export type PeerManagerEvent = PeerManagerInbox | WorkerResult | InternalWork;

/** Facts and replies the peer manager emits. */
export type PeerManagerEmitted = PeerManagerFact | PeerManagerReply;

/** Events the store worker accepts. */
export type WorkerEvent = { type: 'work'; request: PeerManagerCommand | InternalWork } | { type: 'close' };

/** The command in `event`, if it is one the store worker serves. */
export function storeWork(event: PeerManagerEvent): PeerManagerCommand | InternalWork | undefined {
  switch (event.type) {
    case 'peer.add':
    case 'peer.add-many':
    case 'peer.find':
    case 'peer.closest':
    case 'peer.random':
    case 'peer.ban':
    case 'peer.unban':
    case 'peer.delete':
    case 'peer.dial-attempted':
    case 'peer.dial-succeeded':
    case 'peer.dial-failed':
    case 'ban.expired':
      return event;
    default:
      return undefined;
  }
}
