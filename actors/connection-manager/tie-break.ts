/**
 * The simultaneous-dial tie-break (as tari_comms): when a second connection to a peer becomes
 * active, one of the two is kept. Same direction: the newer one. Opposite directions: the node
 * with the smaller NodeId keeps its own outbound connection, so both nodes keep the same one.
 */
import { compareDistance, type NodeId } from '../../core/keys.js';

/** Which side opened a connection. */
export type Direction = 'inbound' | 'outbound';

/** Which connection to keep: the one already held or the new one. */
export function tieBreak(ours: NodeId, theirs: NodeId, existing: Direction, incoming: Direction): 'existing' | 'incoming' {
  if (existing === incoming) return 'incoming';
  const weAreSmaller = compareDistance(ours, theirs) < 0;
  const keep: Direction = weAreSmaller ? 'outbound' : 'inbound';
  return incoming === keep ? 'incoming' : 'existing';
}
