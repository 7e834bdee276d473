/**
 * The built-in `tcomms.info.v1.NodeInfo` service (`/tcomms/info/1`): what a node says of itself
 * to a peer that asks (its keys, user agent, claimed addresses, uptime and connections).
 */
import { formatAddress, parseAddress } from '../core/address.js';
import type { RpcHandlers } from '../protocols/rpc/index.js';
import type { NodeInfo } from '../proto/gen/tcomms/info/v1/info_pb.js';
import type { CommsNode } from './comms-node.js';

/** The addresses `node` claims in its identity now, as text. */
function claimedAddresses(node: CommsNode): string[] {
  const content = node.running ? node.actors.identity.getSnapshot().context.claim.content : undefined;
  const out: string[] = [];
  for (const bytes of content?.addresses ?? []) {
    try {
      out.push(String(formatAddress(parseAddress(bytes, { allowMemory: true }))));
    } catch {
      // a claimed address this node cannot print is left out
    }
  }
  return out;
}

/** The handlers of NodeInfo for `node`. */
export function nodeInfoHandlers(node: CommsNode): RpcHandlers<typeof NodeInfo> {
  return {
    getInfo: () => ({
      publicKey: node.publicKey,
      nodeId: node.nodeId,
      userAgent: node.config.userAgent,
      addresses: claimedAddresses(node),
      uptimeMs: BigInt(Math.max(0, Math.floor(node.uptimeMs))),
      connections: node.connections().length,
    }),
    async *listConnections(request, context) {
      const all = node.connections();
      const n = request.limit === 0 ? all.length : Math.min(request.limit, all.length);
      const now = node.nowMs();
      for (let i = 0; i < n && !context.signal.aborted; i++) {
        const c = all[i]!;
        const first = c.connection.peer.parsedAddresses[0];
        yield {
          publicKey: c.publicKey,
          outbound: c.direction === 'outbound',
          address: first ? String(formatAddress(first)) : '',
          ageMs: BigInt(c.connectedAt === undefined ? 0 : Math.max(0, Math.floor(now - c.connectedAt))),
        };
      }
    },
  };
}
