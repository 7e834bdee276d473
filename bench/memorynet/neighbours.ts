/**
 * Each member's neighbour connections: the 8 communication nodes closest to it by XOR distance
 * and 4 random others (PROTOCOL.md 9.9's pools).
 *
 * STAND-IN until the DHT connectivity pools (issue 21, `dht-pools`) are on main: the harness
 * picks the pools from every node's key (a node's pools would come from its own peer store) and
 * has each member dial them. The random picks come from the run's seed.
 */
import { byDistance } from '../../actors/dht/strategies.js';
import type { Member } from './network.js';
import { inPool, nodeOf, type StepContext } from './steps.js';

/** Neighbours by XOR distance (9.9: 8). */
export const NEIGHBOURS = 8;
/** Random connections (9.9: 4). */
export const RANDOM_PEERS = 4;

/** Whom `m` connects to: its closest communication nodes and random ones, drawn from the run's generator. */
export function neighboursOf(ctx: StepContext, m: Member): Member[] {
  const others = ctx.net.nodes.filter((x) => x !== m);
  const closest = byDistance(
    others.map((x) => ({ x, nodeId: x.identity.nodeId })),
    m.identity.nodeId,
  )
    .slice(0, NEIGHBOURS)
    .map((c) => c.x);
  const rest = others.filter((x) => !closest.includes(x));
  const random: Member[] = [];
  while (random.length < Math.min(RANDOM_PEERS, rest.length)) {
    const pick = ctx.prng.pick(rest);
    if (!random.includes(pick)) random.push(pick);
  }
  return [...closest, ...random];
}

/** Has every member of `members` connected to its neighbours; failures are counted, never thrown. */
export async function connectNeighbours(ctx: StepContext, members: readonly Member[], quiet = false): Promise<{ dials: number; failed: number }> {
  const dials = members.flatMap((m) => neighboursOf(ctx, m).map((to) => [m, to] as const));
  let failed = 0;
  if (!quiet) ctx.progress.step('neighbour connections (stand-in for the DHT pools)', dials.length);
  await inPool(
    dials,
    ctx.options.dialConcurrency,
    async ([m, to]) => {
      if (!m.node || !to.node) return;
      try {
        await m.node.addPeer(to.identity.publicKey, [to.address]);
        await nodeOf(m).dial(to.identity.publicKey, { timeoutMs: ctx.options.stepTimeoutMs });
      } catch {
        failed++;
      }
    },
    (d) => !quiet && ctx.progress.update(d),
  );
  if (!quiet) ctx.progress.end(`${dials.length - failed}/${dials.length} connected`);
  return { dials: dials.length, failed };
}
