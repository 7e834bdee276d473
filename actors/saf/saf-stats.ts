/** What store-and-forward has done since start (counters; `node.dht.saf.stats`). */

/** Counters of storing, serving and requesting (PROTOCOL.md 9.7). */
export interface SafStats {
  /** Messages for others stored. */
  stored: number;
  /** Candidates not stored (out of region, too large, a duplicate, no room, busy); by reason in the DHT's `byReason` (`saf_*`). */
  notStored: number;
  /** Stored messages evicted to make room. */
  evicted: number;
  /** Stored messages dropped past their retention. */
  expired: number;
  /** Requests answered (the response written). */
  requestsServed: number;
  /** Messages served, and deleted once written. */
  messagesServed: number;
  /** Requests this node sent. */
  requestsSent: number;
  /** Responses taken (a request of this node in flight). */
  responsesTaken: number;
  /** Responses dropped: no request in flight to that peer. */
  responsesRejected: number;
  /** Messages delivered to this node from responses, marked late. */
  deliveredLate: number;
}

/** Fresh counters. */
export function emptySafStats(): SafStats {
  return { stored: 0, notStored: 0, evicted: 0, expired: 0, requestsServed: 0, messagesServed: 0, requestsSent: 0, responsesTaken: 0, responsesRejected: 0, deliveredLate: 0 };
}
