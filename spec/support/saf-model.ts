/**
 * A deliberately naive store-and-forward store: one array, every query a filter and a sort, the
 * bounds of PROTOCOL.md 9.7 applied by simulating evictions one at a time. The property tests
 * run random operations against it and a real store and require the same answers.
 */
import { storedMessageBytes } from '../../storage/saf-size.js';
import {
  MAX_SAF_ENVELOPE_BYTES,
  SAF_KNOWN_DESTINATION_SECONDS,
  SAF_SINCE_WINDOW_SECONDS,
  SAF_UNKNOWN_DESTINATION_SECONDS,
} from '../../protocols/dht/constants.js';
import { nodeIdOf } from '../../core/keys.js';
import type { SafDropped, SafEvicted, SafFetchResult, SafMessageInit, SafPutResult, SafRegion, SafRegionMessage, SafRegionResult, SafStats, SafStoreLimits, SafUsage } from '../../storage/saf-store.js';

interface ModelMessage {
  id: number;
  destination: string;
  sender: string;
  dedup: string;
  envelope: Uint8Array;
  storedAt: number;
  retainUntil: number;
  priority: number;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const num = (t: number | bigint) => Number(t);
const byRank = (a: ModelMessage, b: ModelMessage) => a.priority - b.priority || a.storedAt - b.storedAt || a.id - b.id;

/** The reference model (times as small numbers; no u64 clamping). */
export class SafModel {
  messages: ModelMessage[] = [];
  cursors = new Map<string, number>();
  nextId = 1;

  constructor(readonly limits: SafStoreLimits) {}

  #sweep(now: number, max = Infinity): SafDropped {
    const due = this.messages
      .filter((m) => m.retainUntil < now)
      .sort((a, b) => a.retainUntil - b.retainUntil || a.id - b.id)
      .slice(0, max);
    const gone = new Set(due.map((m) => m.id));
    this.messages = this.messages.filter((m) => !gone.has(m.id));
    return { count: due.length, bytes: due.reduce((s, m) => s + m.envelope.length, 0) };
  }

  put(init: SafMessageInit): SafPutResult {
    const storedAt = num(init.storedAt);
    const expired = this.#sweep(storedAt);
    if (init.envelope.length === 0 || init.envelope.length > MAX_SAF_ENVELOPE_BYTES) return { stored: false, reason: 'too_large', expired };
    const window = Number(init.destinationKnown ? SAF_KNOWN_DESTINATION_SECONDS : SAF_UNKNOWN_DESTINATION_SECONDS);
    const retainUntil = Math.min(num(init.expires), storedAt + window);
    if (retainUntil < storedAt) return { stored: false, reason: 'expired', expired };
    if (this.messages.some((m) => m.dedup === hex(init.dedupKey))) return { stored: false, reason: 'duplicate', expired };
    const incoming: ModelMessage = {
      id: this.nextId,
      destination: hex(init.destination),
      sender: hex(init.sender),
      dedup: hex(init.dedupKey),
      envelope: init.envelope.slice(),
      storedAt,
      retainUntil,
      priority: init.priority ?? 0,
    };
    // Simulate: add it, then evict the lowest-ranked message of the scope while over a bound;
    // if that is the new message itself, refuse and evict nothing.
    let kept = [...this.messages, incoming];
    const evicted: SafEvicted[] = [];
    const scopes = [
      { bound: 'peer' as const, of: (m: ModelMessage) => m.sender === incoming.sender, maxCount: this.limits.maxMessagesPerPeer, maxBytes: this.limits.maxBytesPerPeer },
      { bound: 'total' as const, of: () => true, maxCount: this.limits.maxMessages, maxBytes: this.limits.maxBytes },
    ];
    for (const scope of scopes) {
      for (;;) {
        const inScope = kept.filter(scope.of);
        const bytes = inScope.reduce((s, m) => s + m.envelope.length, 0);
        if (inScope.length <= scope.maxCount && bytes <= scope.maxBytes) break;
        const lowest = inScope.sort(byRank)[0]!;
        if (lowest === incoming) return { stored: false, reason: 'no_room', expired };
        kept = kept.filter((m) => m !== lowest);
        evicted.push({ id: lowest.id, destination: Buffer.from(lowest.destination, 'hex'), sender: Buffer.from(lowest.sender, 'hex'), bytes: lowest.envelope.length, bound: scope.bound });
      }
    }
    this.messages = kept;
    this.nextId++;
    return { stored: true, id: incoming.id, retainUntil, evicted, expired };
  }

  messagesFor(destination: Uint8Array, o: { since: number; limit: number; maxBytes: number; now: number }): SafFetchResult {
    const since = Math.min(Math.max(o.since, o.now - Number(SAF_SINCE_WINDOW_SECONDS)), o.now);
    const limit = o.limit <= 0 || o.limit > 50 ? 50 : o.limit;
    const eligible = this.messages
      .filter((m) => m.destination === hex(destination) && m.storedAt >= since && m.retainUntil >= o.now)
      .sort((a, b) => a.storedAt - b.storedAt || a.id - b.id);
    const messages: SafFetchResult['messages'][number][] = [];
    let encodedBytes = 0;
    for (const m of eligible) {
      const size = storedMessageBytes(m.storedAt, m.envelope.length);
      if (messages.length >= limit || encodedBytes + size > o.maxBytes) break;
      messages.push({ id: m.id, storedAt: BigInt(m.storedAt), envelope: m.envelope.slice() });
      encodedBytes += size;
    }
    return { messages, ids: messages.map((m) => m.id), encodedBytes, more: messages.length < eligible.length };
  }

  messagesInRegion(region: SafRegion, o: { since: number; limit: number; maxBytes: number; now: number }): SafRegionResult {
    const bits = (b: Uint8Array) => Array.from(b, (x) => x.toString(2).padStart(8, '0')).join('');
    const prefix = bits(region.center).slice(0, region.prefixBits);
    const since = Math.min(Math.max(o.since, o.now - Number(SAF_SINCE_WINDOW_SECONDS)), o.now);
    const messages: SafRegionMessage[] = this.messages
      .filter((m) => bits(nodeIdOf(Buffer.from(m.destination, 'hex'))).startsWith(prefix) && m.storedAt >= since && m.retainUntil >= o.now)
      .map((m) => ({ id: m.id, storedAt: BigInt(m.storedAt), envelope: m.envelope.slice(), destination: Buffer.from(m.destination, 'hex') }));
    let encodedBytes = 0;
    let more = false;
    messages.sort((a, b) => Number(a.storedAt - b.storedAt) || a.id - b.id);
    const limit = o.limit <= 0 || o.limit > 50 ? 50 : o.limit;
    const taken: SafRegionMessage[] = [];
    for (const m of messages) {
      const size = storedMessageBytes(Number(m.storedAt), m.envelope.length);
      if (taken.length >= limit || encodedBytes + size > o.maxBytes) {
        more = true;
        break;
      }
      taken.push(m);
      encodedBytes += size;
    }
    return { messages: taken, ids: taken.map((m) => m.id), encodedBytes, more };
  }

  remove(destination: Uint8Array, ids: readonly number[]): SafDropped {
    const gone = this.messages.filter((m) => ids.includes(m.id) && m.destination === hex(destination));
    this.messages = this.messages.filter((m) => !gone.includes(m));
    return { count: gone.length, bytes: gone.reduce((s, m) => s + m.envelope.length, 0) };
  }

  expire(now: number, max?: number): SafDropped & { more: boolean } {
    const dropped = this.#sweep(now, max);
    return { ...dropped, more: this.messages.some((m) => m.retainUntil < now) };
  }

  sinceOf(peer: Uint8Array): number {
    return this.cursors.get(hex(peer)) ?? 0;
  }

  noteServed(peer: Uint8Array, storedAt: number): void {
    this.cursors.set(hex(peer), Math.max(storedAt, this.cursors.get(hex(peer)) ?? -1));
    while (this.cursors.size > this.limits.maxCursors) {
      const [stalest] = [...this.cursors].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
      this.cursors.delete(stalest![0]);
    }
  }

  stats(): SafStats {
    return { count: this.messages.length, bytes: this.messages.reduce((s, m) => s + m.envelope.length, 0), senders: new Set(this.messages.map((m) => m.sender)).size };
  }

  usageOf(sender: Uint8Array): SafUsage {
    const mine = this.messages.filter((m) => m.sender === hex(sender));
    return { count: mine.length, bytes: mine.reduce((s, m) => s + m.envelope.length, 0) };
  }
}
