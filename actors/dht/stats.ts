/** What the DHT has done since start (counters; `node.dht.stats`). */

/** Counters of the DHT's inbound and outbound sides. */
export interface DhtStats {
  /** DHT messages received (messaging bodies). */
  received: number;
  /** Violations of the sending peer (each reported for a ban). */
  violations: number;
  /** Copies already seen (9.4), in total; per peer: `duplicatesFrom`. */
  duplicates: number;
  /** Other drops: expired, undefined version or type, a sealed message that did not open, a banned or flooding sender. */
  dropped: number;
  /** DOMAIN messages delivered to this node. */
  delivered: number;
  /** Envelopes queued to a peer by forwarding. */
  forwarded: number;
  /** Forwards dropped: `maxForwardBacklog` forwards were waiting (`forward_backlog`), a peer had `maxForwardsPerPeer` this window (`forward_rate`), or a JOIN's claim was too near the clock limit (`forward_clock_margin`). */
  forwardDropped: number;
  /** Envelopes this node originated, queued to a peer (one per peer). */
  sent: number;
  /**
   * Drops and violations by reason: the judge's names, plus `banned`, `flooding`, `join_rate`,
   * `answer_backlog`, the forward drops `forward_backlog`, `forward_rate`, `forward_clock_margin`,
   * store-and-forward's `saf_*`, and `dead_end`: a message to pass on that Propagate (9.6) could
   * give to no peer (none connected closer to its destination, the sender and origin left out)
   * and that this node did not store, so that this copy of it ends here.
   */
  byReason: Record<string, number>;
}

/** Fresh counters. */
export function emptyStats(): DhtStats {
  return { received: 0, violations: 0, duplicates: 0, dropped: 0, delivered: 0, forwarded: 0, forwardDropped: 0, sent: 0, byReason: {} };
}
