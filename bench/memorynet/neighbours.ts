/**
 * Each member's neighbour connections: the DHT connectivity pools (PROTOCOL.md 9.9: the 8 nodes
 * closest to it by XOR distance and 4 random ones, from its own peer store) that every member
 * runs. The harness only waits for them to be connected.
 */
import { dhtConnectivityStats } from '../../actors/dht-connectivity/index.js';
import type { Member } from './network.js';
import { waitFor, type StepContext } from './steps.js';

/** Neighbours by XOR distance (9.9: 8). */
export const NEIGHBOURS = 8;
/** Random connections (9.9: 4). */
export const RANDOM_PEERS = 4;

/** `m`'s pool members now connected, and how many its pools hold (0, 0 when it runs none). */
export function poolsOf(m: Member): { connected: number; members: number } {
  const actor = m.node?.actors.dhtConnectivity;
  if (!actor) return { connected: 0, members: 0 };
  const s = dhtConnectivityStats(actor);
  return { connected: s.connectedMembers, members: s.neighbours.length + s.random.length };
}

/**
 * Waits (bounded by the step timeout) until every member of `members` has all of its pools'
 * members connected, and its pools are full (12, or every other node of a smaller network).
 * Returns those that were not there in time.
 */
export async function connectNeighbours(ctx: StepContext, members: readonly Member[], quiet = false): Promise<string[]> {
  const want = Math.min(NEIGHBOURS + RANDOM_PEERS, ctx.net.dhtNodes.length - 1);
  const pending = new Set(members.filter((m) => m.node !== undefined));
  if (!quiet) ctx.progress.step('DHT pools connect (8 closest, 4 random)', pending.size);
  await waitFor(
    () => {
      for (const m of pending) {
        if (!m.node?.actors.dhtConnectivity) pending.delete(m); // runs no pools
        const p = poolsOf(m);
        if (p.members >= want && p.connected >= p.members) pending.delete(m);
      }
      if (!quiet) ctx.progress.update(members.length - pending.size);
      return pending.size === 0;
    },
    ctx.options.stepTimeoutMs,
    100,
  );
  if (!quiet) ctx.progress.end(`${members.length - pending.size}/${members.length} connected to their pools`);
  return [...pending].map((m) => {
    const p = poolsOf(m);
    return `${m.label}: ${p.connected}/${p.members} pool members connected`;
  });
}
