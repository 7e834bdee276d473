/**
 * Flood protection (PROTOCOL.md 9.9): more than `maxMessages` DHT messages from one peer within
 * `windowMs` is flooding. Counted per peer in fixed windows (a window starts at the peer's first
 * message after the previous one ended); the peer is reported once per window, and everything
 * else it sends in that window is dropped. Bounded: at most `maxPeers` peers are followed (the
 * oldest forgotten first). A peer that disconnects keeps its window: reconnecting does not reset
 * the count.
 */
import { BoundedMap } from '../../core/bounded-map.js';

/** What the guard decides for one message. */
export type FloodVerdict = 'ok' | 'flooding' | 'over';

interface Window {
  start: number;
  count: number;
}

/** Per-peer message counting (see the module comment). */
export class FloodGuard {
  readonly #windows: BoundedMap<string, Window>;

  constructor(
    readonly maxMessages: number,
    readonly windowMs: number,
    maxPeers = 4_096,
  ) {
    this.#windows = new BoundedMap(maxPeers);
  }

  /**
   * Counts one message from `peer` (hex): `ok`, `flooding` for the first message over the limit
   * in this window (report it), `over` for the following ones (drop them).
   */
  count(peer: string, nowMs: number): FloodVerdict {
    let w = this.#windows.get(peer);
    if (w === undefined || nowMs - w.start >= this.windowMs) {
      w = { start: nowMs, count: 0 };
      this.#windows.set(peer, w);
    }
    w.count++;
    if (w.count <= this.maxMessages) return 'ok';
    return w.count === this.maxMessages + 1 ? 'flooding' : 'over';
  }
}
