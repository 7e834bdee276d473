/**
 * The server side of peer sync, `/tari/dht/1` (PROTOCOL.md 9.8): the `PeerSync` handlers a DHT
 * node serves. Both methods stream stored claims (the signed claim each peer made, relayed
 * unchanged): `GetCloserPeers` the `n` closest to `closer_to`, nearest first; `GetPeers` `n` at
 * random (0: all, up to {@link GET_PEERS_ALL_CAP}). The client, banned peers, `excluded` keys
 * and, unless `include_clients`, non-nodes are left out; so are peers the store holds no claim
 * for (a seed from the configuration never met), since there is nothing signed to relay. A
 * field out of range or of the wrong size is answered BadRequest before the store is read.
 */
import { create } from '@bufbuild/protobuf';
import type { NodeId, PublicKey } from '../../core/keys.js';
import { NODE_ID_LENGTH } from '../../core/keys.js';
import { IdentitySignatureSchema } from '../../proto/gen/tcomms/identity_pb.js';
import { PeerClaimSchema, type GetCloserPeersRequest, type GetPeersRequest, type PeerClaim, type PeerSync } from '../../proto/gen/tcomms/dht/dht_pb.js';
import { FEATURE_MESSAGE_PROPAGATION, GET_CLOSER_PEERS_MAX_N, GET_PEERS_MAX_N, MAX_EXCLUDED_KEYS } from '../../protocols/dht/index.js';
import { MAX_USER_AGENT_BYTES } from '../../protocols/identity/index.js';
import { RpcError, RpcStatus, type RpcHandlers } from '../../protocols/rpc/index.js';
import type { Peer } from '../../storage/peer.js';
import type { QueryFilter } from '../peer-manager/peer-manager.events.js';

/** `GetPeers` with `n` = 0 ("all") streams at most this many claims: a bound on one call's store read and stream. */
export const GET_PEERS_ALL_CAP = 10_000;

/** Where the handlers read stored peers (the node's peer manager; undefined while it is not running). */
export interface PeerSyncSource {
  closest(target: NodeId, n: number, filter?: QueryFilter): Promise<Peer[]>;
  random(n: number, filter?: QueryFilter): Promise<Peer[]>;
}

/** The stored claim of `peer` as relayed on the wire, or undefined when the store holds none. */
export function storedClaimOf(peer: Peer): PeerClaim | undefined {
  const c = peer.claim;
  if (!c) return undefined;
  return create(PeerClaimSchema, {
    publicKey: peer.publicKey,
    addresses: c.addresses,
    features: c.features,
    signature: create(IdentitySignatureSchema, { version: c.version, signature: c.signature, updatedAt: BigInt(c.updatedAt) }),
    // The user agent is not signed: one too long for a claim (9.5) is left out rather than make the claim invalid.
    userAgent: Buffer.byteLength(peer.userAgent) <= MAX_USER_AGENT_BYTES ? peer.userAgent : '',
  });
}

const badRequest = (message: string) => new RpcError(RpcStatus.BadRequest, message);

/** Checks a `GetCloserPeersRequest` (9.8); throws BadRequest naming the field. */
export function checkGetCloserPeers(request: GetCloserPeersRequest): void {
  if (request.n < 1 || request.n > GET_CLOSER_PEERS_MAX_N) throw badRequest(`n is ${request.n} (1..${GET_CLOSER_PEERS_MAX_N})`);
  if (request.closerTo.length !== NODE_ID_LENGTH) throw badRequest(`closer_to is ${request.closerTo.length} bytes (a NodeId is ${NODE_ID_LENGTH})`);
  if (request.excluded.length > MAX_EXCLUDED_KEYS) throw badRequest(`excluded holds ${request.excluded.length} keys (at most ${MAX_EXCLUDED_KEYS})`);
  const wrong = request.excluded.findIndex((k) => k.length !== 32);
  if (wrong >= 0) throw badRequest(`excluded[${wrong}] is ${request.excluded[wrong]!.length} bytes (a public key is 32)`);
}

/** Checks a `GetPeersRequest` (9.8); throws BadRequest. */
export function checkGetPeers(request: GetPeersRequest): void {
  if (request.n > GET_PEERS_MAX_N) throw badRequest(`n is ${request.n} (at most ${GET_PEERS_MAX_N}; 0 for all)`);
}

/** The store filter of a request: nodes only unless clients are asked for; the client and `excluded` left out (banned peers are by default). */
function filterOf(client: PublicKey, includeClients: boolean, excluded: readonly Uint8Array[] = []): QueryFilter {
  return { ...(includeClients ? {} : { features: FEATURE_MESSAGE_PROPAGATION }), exclude: [client, ...(excluded as PublicKey[])] };
}

/** Yields the claims of `peers` in order while the call lives. */
async function* claimsOf(peers: readonly Peer[], signal: AbortSignal): AsyncGenerator<PeerClaim> {
  for (const peer of peers) {
    if (signal.aborted) return;
    const claim = storedClaimOf(peer);
    if (claim) yield claim;
  }
}

/** The `PeerSync` handlers over `source` (see the module comment). */
export function peerSyncHandlers(source: () => PeerSyncSource | undefined): RpcHandlers<typeof PeerSync> {
  const store = () => {
    const s = source();
    if (!s) throw new RpcError(RpcStatus.General, 'the node is not running');
    return s;
  };
  return {
    async *getCloserPeers(request, context) {
      checkGetCloserPeers(request);
      const peers = await store().closest(request.closerTo as NodeId, request.n, filterOf(context.peer.publicKey as PublicKey, request.includeClients, request.excluded));
      yield* claimsOf(peers, context.signal);
    },
    async *getPeers(request, context) {
      checkGetPeers(request);
      const n = request.n === 0 ? GET_PEERS_ALL_CAP : request.n;
      const peers = await store().random(n, filterOf(context.peer.publicKey as PublicKey, request.includeClients));
      yield* claimsOf(peers, context.signal);
    },
  };
}
