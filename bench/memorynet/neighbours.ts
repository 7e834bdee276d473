/**
 * Each member's neighbour connections: the 8 nodes closest to it by XOR distance and 4 random
 * ones, both from its own peer store (PROTOCOL.md 9.9's pools).
 *
 * STAND-IN until the DHT connectivity pools (issue 21, `dht-pools`) are on main: the harness asks
 * each member's peer store for its pools and has the member dial them once.
 */
import { FEATURE_MESSAGE_PROPAGATION } from '../../protocols/dht/index.js';
import type { PublicKey } from '../../core/keys.js';
import type { Member } from './network.js';
import { inPool, nodeOf, type StepContext } from './steps.js';

/** Neighbours by XOR distance (9.9: 8). */
export const NEIGHBOURS = 8;
/** Random connections (9.9: 4). */
export const RANDOM_PEERS = 4;

/** Whom `m` connects to: the closest nodes its peer store knows, and random other nodes it knows. */
export async function neighboursOf(m: Member): Promise<PublicKey[]> {
  const peers = nodeOf(m).peers;
  const closest = (await peers.closest(m.identity.nodeId, NEIGHBOURS, { features: FEATURE_MESSAGE_PROPAGATION })).map((p) => p.publicKey);
  const random = (await peers.random(RANDOM_PEERS, { features: FEATURE_MESSAGE_PROPAGATION, exclude: closest })).map((p) => p.publicKey);
  return [...closest, ...random];
}

/** Has every member of `members` dial its neighbours; failures are counted, never thrown. */
export async function connectNeighbours(ctx: StepContext, members: readonly Member[], quiet = false): Promise<{ dials: number; failed: number }> {
  let dials = 0;
  let failed = 0;
  if (!quiet) ctx.progress.step('neighbour connections (stand-in for the DHT pools)', members.length);
  await inPool(
    members,
    // Members at a time, each dialing its 12 at once.
    Math.max(1, Math.ceil(ctx.options.dialConcurrency / 4)),
    async (m) => {
      if (!m.node) return;
      const targets = await neighboursOf(m);
      dials += targets.length;
      await Promise.all(
        targets.map(async (publicKey) => {
          try {
            await nodeOf(m).dial(publicKey, { timeoutMs: ctx.options.stepTimeoutMs });
          } catch {
            failed++;
          }
        }),
      );
    },
    (d) => !quiet && ctx.progress.update(d),
  );
  if (!quiet) ctx.progress.end(`${dials - failed}/${dials} connected`);
  return { dials, failed };
}
