/**
 * The DHT connectivity's settings (PROTOCOL.md 9.9: "the 8 closest nodes (XOR distance) and 4
 * random ones, refreshed every 2 h, checked every 2 min"): one commented
 * `DEFAULT_DHT_CONNECTIVITY_CONFIG` and the checks `validateCommsConfig` runs on it (as
 * `dht.connectivity`). Durations are milliseconds.
 */

/** What the neighbour and random pools keep, and how (see {@link DEFAULT_DHT_CONNECTIVITY_CONFIG}). */
export interface DhtConnectivityConfig {
  /** The neighbour pool: this many nodes closest to this node by XOR distance (9.9: 8). */
  numNeighbours: number;
  /** The random pool: this many other nodes chosen at random (9.9: 4), one in each distance bucket beyond the neighbours first. */
  numRandom: number;
  /** The pools are checked (filled, members re-dialled, extras minimized) this often (9.9: 2 min). */
  checkIntervalMs: number;
  /**
   * A stored node closer than the farthest neighbour, while the neighbour pool is full, moves the
   * pool at most this long after (one selection for every closer node stored meanwhile); with
   * room left, a stored node is taken at once.
   */
  neighbourSettleMs: number;
  /** The pools are chosen afresh this often: the closest again, a new random pool (9.9: 2 h). */
  refreshIntervalMs: number;
  /** A lost or failed member is dialled again after this long, doubled on each further failure ... */
  redialBackoffMs: number;
  /** ... up to this long. */
  maxRedialBackoffMs: number;
  /** Failed dials and short-lived connections in a row after which a member is replaced. */
  maxMemberFailures: number;
  /** A replaced member is not chosen again for this long. */
  shunMs: number;
  /** Once both pools are full and connected, connections this node dialled to nodes in no pool are closed ... */
  minimizeConnections: boolean;
  /** ... while the node has more than this many connections. */
  minimizeThreshold: number;
  /** Minimizing closes connections to clients (peers without feature bit 0: wallets) too. */
  minimizeClients: boolean;
}

/** Defaults: PROTOCOL.md 9.9 where it recommends a value, tari_comms_dht's behaviour elsewhere. */
export const DEFAULT_DHT_CONNECTIVITY_CONFIG: Readonly<DhtConnectivityConfig> = Object.freeze({
  numNeighbours: 8,
  numRandom: 4,
  checkIntervalMs: 2 * 60_000,
  refreshIntervalMs: 2 * 60 * 60_000,
  // Nodes arriving (and every sync) bring closer nodes in bursts: a pool that followed each one
  // dialled about 27 nodes per node in a 100-node memorynet, most of them displaced again
  // within seconds (2026-12-07). A closer node waits at most this long to be dialled.
  neighbourSettleMs: 30_000,
  // A neighbour that restarted is back within seconds; the doubling spares one that is gone.
  redialBackoffMs: 5_000,
  // No longer than a check: a member is never left undialled past the next check.
  maxRedialBackoffMs: 2 * 60_000,
  // Each dial already runs the dial policy's rounds over every address: 3 of them is plenty.
  maxMemberFailures: 3,
  // One refresh period: the next fresh choice may take it again.
  shunMs: 2 * 60 * 60_000,
  minimizeConnections: false,
  // The pools' 12 and some room for the nodes that chose this one as their neighbour.
  minimizeThreshold: 16,
  minimizeClients: false,
});

/** The problems of a DHT connectivity configuration (empty when it is valid), named under `dht.connectivity`. */
export function dhtConnectivityConfigProblems(config: DhtConnectivityConfig): string[] {
  const problems: string[] = [];
  const integer = (k: keyof DhtConnectivityConfig, min: number, max = Number.MAX_SAFE_INTEGER) => {
    const v = config[k];
    if (!(Number.isInteger(v) && (v as number) >= min && (v as number) <= max)) problems.push(`dht.connectivity.${k} must be an integer ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `${min}..${max}`}`);
  };
  // A pool above 100 would ask the peer store for more than a query returns and dial that many.
  integer('numNeighbours', 0, 100);
  integer('numRandom', 0, 100);
  for (const k of ['checkIntervalMs', 'refreshIntervalMs', 'neighbourSettleMs', 'redialBackoffMs', 'maxRedialBackoffMs', 'maxMemberFailures', 'shunMs'] as const) integer(k, 1);
  integer('minimizeThreshold', 0);
  if (config.maxRedialBackoffMs < config.redialBackoffMs) problems.push('dht.connectivity.maxRedialBackoffMs must be at least dht.connectivity.redialBackoffMs');
  for (const k of ['minimizeConnections', 'minimizeClients'] as const) if (typeof config[k] !== 'boolean') problems.push(`dht.connectivity.${k} must be a boolean`);
  return problems;
}
