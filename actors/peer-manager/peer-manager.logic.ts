/**
 * The peer manager's real implementations: the store worker (a callback actor that serves
 * commands one at a time against the PeerStore, with a bounded queue) and a promise-based client
 * for code that is not an actor.
 */
import type { ActorRefFrom } from 'xstate';
import { callbackActor } from '../mailbox.js';
import { TcommsError, TimeoutError, toPlainError, RequestFailed } from '../../core/errors.js';
import { nodeIdOf, type NodeId, type PublicKey } from '../../core/keys.js';
import { banPeer, isBanned, isOffline, mergePeer, newPeer, recordDial, unbanPeer, type Peer, type PeerSighting } from '../../storage/peer.js';
import { ask } from '../request.js';
import { MAX_ADD_MANY, type InternalWork, type PeerManagerCommand, type PeerManagerFact, type QueryFilter, type WorkerEvent, type WorkerResult } from './peer-manager.events.js';
import { peerManagerMachine, type StoreWorkerInput } from './peer-manager.machine.js';

/** The manager's queue is full: the command was not run. */
export class PeerManagerBusy extends TcommsError {
  readonly kind = 'storage' as const;
}

/** The manager is stopping or stopped. */
export class PeerManagerStopped extends TcommsError {
  readonly kind = 'aborted' as const;
}

/** A `peer.add-many` with more sightings than `MAX_ADD_MANY` (a caller's mistake): not run. */
export class PeerManagerTooMany extends TcommsError {
  readonly kind = 'config' as const;
}

/** A command failed; `name` and `kind` are those of the original error. */
export class PeerManagerRequestFailed extends RequestFailed {}


type Work = PeerManagerCommand | InternalWork;

/**
 * What a command came to: its result and the facts it established; `error` when it failed after
 * writing some records (a `peer.add-many`): it fails, and those records' facts are published.
 */
interface Served {
  result: Peer | Peer[] | undefined;
  facts: PeerManagerFact[];
  error?: unknown;
}

/** Runs one command against the store: its result and the facts it establishes. */
async function serve(input: StoreWorkerInput, work: Work): Promise<Served> {
  const { store } = input;
  const now = input.now();
  const facts: PeerManagerFact[] = [];
  const change = async (publicKey: PublicKey, f: (current: Peer | undefined) => Peer | undefined) => {
    let before: Peer | undefined;
    let changed = false;
    const after = await store.update(
      publicKey,
      (current) => {
        before = current;
        const next = f(current);
        changed = next !== undefined && next !== current;
        return changed ? next : undefined;
      },
      // The write pushed an unverified record out (the store's maxUnverified): a deletion to followers.
      (evicted) => facts.push({ type: 'peer.deleted', peer: evicted, reason: 'evicted' }),
    );
    return { before, after, changed };
  };
  /** Records `outcome`, after counting the attempt that began `attemptMs` ago when given. */
  const dial = async (publicKey: PublicKey, address: string, outcome: Parameters<typeof recordDial>[2], attemptMs?: number) => {
    const record = (p: Peer) => recordDial(attemptMs === undefined ? p : recordDial(p, address, { kind: 'attempt' }, now - Math.max(0, attemptMs)), address, outcome, now);
    const { before, after, changed } = await change(publicKey, (p) => (p ? record(p) : undefined));
    if (changed && before && after) {
      if (!isOffline(before) && isOffline(after)) facts.push({ type: 'peer.offline', peer: after });
      if (isOffline(before) && !isOffline(after)) facts.push({ type: 'peer.online', peer: after });
    }
    return after;
  };
  /** A sighting merged into its peer's record (or a new record). */
  const sightingChange = (s: PeerSighting) => change(s.publicKey, (p) => (p ? mergePeer(p, s, now) : newPeer(s, now)));
  /** The fact of a sighting's change (added or updated); the stored peer. */
  const recordAdded = ({ before, after }: Awaited<ReturnType<typeof sightingChange>>): Peer => {
    facts.push(before ? { type: 'peer.updated', peer: after!, before } : { type: 'peer.added', peer: after! });
    return after!;
  };
  switch (work.type) {
    case 'peer.add':
      return { result: recordAdded(await sightingChange(work.sighting)), facts };
    case 'peer.add-many': {
      if (work.sightings.length > MAX_ADD_MANY) throw new PeerManagerTooMany(`${work.sightings.length} sightings in one command (at most ${MAX_ADD_MANY})`);
      // Started together, applied in order by the store (as overlapping commands are); a key
      // given twice is merged twice, in order. Facts follow the sightings' order. When a write
      // fails the command fails, but the records the others wrote are stored all the same: their
      // facts are published with the failure (a record stored and never announced would stay
      // unknown to its followers, the DHT pools, until they next query the store).
      const settled = await Promise.allSettled(work.sightings.map(sightingChange));
      const result = settled.map((s) => (s.status === 'fulfilled' ? recordAdded(s.value) : undefined));
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) return { result: undefined, facts, error: failed.reason };
      return { result: result as Peer[], facts };
    }
    case 'peer.find':
      return { result: work.publicKey ? await store.get(work.publicKey) : work.nodeId ? await store.getByNodeId(work.nodeId) : undefined, facts };
    case 'peer.closest':
      return { result: await store.closest(work.target, work.n, { ...work.filter, now }), facts };
    case 'peer.random':
      return { result: await store.random(work.n, { ...work.filter, now }), facts };
    case 'peer.ban': {
      const until = now + Math.max(0, work.durationMs);
      const { after, changed } = await change(work.publicKey, (p) => banPeer(p ?? newPeer({ publicKey: work.publicKey, nodeId: nodeIdOf(work.publicKey) }, now), until, work.reason, now));
      if (changed) facts.push({ type: 'peer.banned', peer: after!, until: after!.bannedUntil!, reason: after!.banReason! });
      return { result: after, facts };
    }
    case 'peer.unban':
    case 'ban.expired': {
      const expiry = work.type === 'ban.expired';
      const { after, changed } = await change(work.publicKey, (p) => (p && p.bannedUntil !== undefined && (!expiry || !isBanned(p, now)) ? unbanPeer(p, now) : undefined));
      if (changed) facts.push({ type: 'peer.unbanned', peer: after! });
      return { result: after, facts };
    }
    case 'peer.delete': {
      const { after, changed } = await change(work.publicKey, (p) => (p && p.deletedAt === undefined ? { ...p, deletedAt: now, updatedAt: now } : undefined));
      if (changed) facts.push({ type: 'peer.deleted', peer: after!, reason: 'deleted' });
      return { result: after, facts };
    }
    case 'peer.dial-attempted':
      return { result: await dial(work.publicKey, work.address, { kind: 'attempt' }), facts };
    case 'peer.dial-succeeded':
      return {
        result: await dial(work.publicKey, work.address, { kind: 'success', dialMs: work.dialMs, ...(work.latencyMs === undefined ? {} : { latencyMs: work.latencyMs }) }, work.attemptMs),
        facts,
      };
    case 'peer.dial-failed':
      return { result: await dial(work.publicKey, work.address, { kind: 'failure', reason: work.reason }, work.attemptMs), facts };
  }
}

const noop = (): void => {};

/** Commands that only read the store. */
function isRead(work: Work): boolean {
  return work.type === 'peer.find' || work.type === 'peer.closest' || work.type === 'peer.random';
}

/**
 * The store worker: commands answered in arrival order, at most `maxQueue` waiting, each seeing
 * the store as the commands before it left it and none after it. Writes that follow each other
 * start at once (up to `maxInFlight`), without waiting for the one before to commit: the store
 * applies them in order, and LMDB commits those in flight together (one commit for a burst of
 * dial outcomes, instead of one each, about 2 ms apiece here). A read waits for the writes
 * before it; a write waits for the reads before it to have run.
 */
export const peerStoreWorker = callbackActor<WorkerEvent, StoreWorkerInput, WorkerResult>(({ input, receive, sendBack }) => {
  const queue: Work[] = [];
  let inFlight = 0;
  /** Settles once every write started so far is done. */
  let writes: Promise<unknown> = Promise.resolve();
  /** Settles once every read started so far has run. */
  let reads: Promise<unknown> = Promise.resolve();
  /** Settles once every answer so far is sent (answers go out in arrival order). */
  let answers: Promise<void> = Promise.resolve();
  let closing = false;
  let closed = false;
  let stopped = false;
  const send = (event: WorkerResult) => {
    if (!stopped) sendBack(event);
  };
  const answer = (work: Work, run: Promise<Served>) =>
    run.then(
      ({ result, facts, error }) =>
        send(error === undefined ? { type: 'store.done', request: work, result, facts } : { type: 'store.failed', request: work, error: toPlainError(error), facts }),
      (err: unknown) => send({ type: 'store.failed', request: work, error: toPlainError(err) }),
    );
  const pump = (): void => {
    while (queue.length > 0 && inFlight < input.maxInFlight) {
      const work = queue.shift()!;
      inFlight++;
      let run: Promise<Served>;
      if (isRead(work)) {
        run = writes.then(() => serve(input, work));
        // (Settled with nothing: a chain holding each result would keep every one alive.)
        reads = Promise.all([reads, run.then(noop, noop)]).then(noop);
      } else {
        run = reads.then(() => serve(input, work));
        writes = Promise.all([writes, run.then(noop, noop)]).then(noop);
      }
      answers = answers
        .then(() => answer(work, run))
        .catch(noop) // (an answer that could not be sent must not stop the ones after it)
        .then(() => {
          inFlight--;
          pump();
        });
    }
    if (closing && !closed && queue.length === 0 && inFlight === 0) {
      closed = true;
      const close = stopped ? Promise.resolve() : input.store.close();
      // The store is closed either way (a failed close leaves nothing to retry).
      void close.then(noop, noop).then(() => send({ type: 'store.closed' }));
    }
  };
  receive((event) => {
    if (event.type === 'close') {
      closing = true;
      pump();
      return;
    }
    const refuse = closing
      ? new PeerManagerStopped('the peer manager is stopping')
      : queue.length >= input.maxQueue
        ? new PeerManagerBusy(`${queue.length} peer-manager commands are waiting`)
        : undefined;
    if (refuse) {
      send({ type: 'store.failed', request: event.request, error: refuse.toPlain() });
      return;
    }
    queue.push(event.request);
    pump();
  });
  return () => {
    stopped = true;
  };
});

/** The machine with its real worker. */
export const peerManagerLogic = peerManagerMachine.provide({ actors: { peerStoreWorker } });

/** A peer-manager actor (the node's `peerManager` component). */
export type PeerManagerRef = ActorRefFrom<typeof peerManagerLogic>;

/** Promise-based access to a peer-manager actor, for code that is not an actor itself. */
export class PeerManagerClient {
  constructor(
    readonly actor: PeerManagerRef,
    readonly timeoutMs = 10_000,
  ) {}

  async #request(make: (requestId: string) => PeerManagerCommand): Promise<Peer | Peer[] | undefined> {
    if (this.actor.getSnapshot().status !== 'active') throw new PeerManagerStopped('the peer manager is stopped');
    const reply = await ask(this.actor).reply('peer-manager.reply', make, this.timeoutMs);
    if (reply.ok) return reply.result;
    throw new PeerManagerRequestFailed(reply.error);
  }

  add(sighting: PeerSighting): Promise<Peer> {
    return this.#request((requestId) => ({ type: 'peer.add', requestId, sighting })) as Promise<Peer>;
  }
  /** Adds (or merges) several sightings in one command: the peers, in the sightings' order. */
  addMany(sightings: readonly PeerSighting[]): Promise<Peer[]> {
    return this.#request((requestId) => ({ type: 'peer.add-many', requestId, sightings })) as Promise<Peer[]>;
  }
  find(key: { publicKey: PublicKey } | { nodeId: NodeId }): Promise<Peer | undefined> {
    return this.#request((requestId) => ({ type: 'peer.find', requestId, ...key })) as Promise<Peer | undefined>;
  }
  closest(target: NodeId, n: number, filter?: QueryFilter): Promise<Peer[]> {
    return this.#request((requestId) => ({ type: 'peer.closest', requestId, target, n, ...(filter ? { filter } : {}) })) as Promise<Peer[]>;
  }
  random(n: number, filter?: QueryFilter): Promise<Peer[]> {
    return this.#request((requestId) => ({ type: 'peer.random', requestId, n, ...(filter ? { filter } : {}) })) as Promise<Peer[]>;
  }
  ban(publicKey: PublicKey, durationMs: number, reason: string): Promise<Peer> {
    return this.#request((requestId) => ({ type: 'peer.ban', requestId, publicKey, durationMs, reason })) as Promise<Peer>;
  }
  unban(publicKey: PublicKey): Promise<Peer | undefined> {
    return this.#request((requestId) => ({ type: 'peer.unban', requestId, publicKey })) as Promise<Peer | undefined>;
  }
  delete(publicKey: PublicKey): Promise<Peer | undefined> {
    return this.#request((requestId) => ({ type: 'peer.delete', requestId, publicKey })) as Promise<Peer | undefined>;
  }
  dialAttempted(publicKey: PublicKey, address: string): Promise<Peer | undefined> {
    return this.#request((requestId) => ({ type: 'peer.dial-attempted', requestId, publicKey, address })) as Promise<Peer | undefined>;
  }
  dialSucceeded(publicKey: PublicKey, address: string, dialMs: number, latencyMs?: number): Promise<Peer | undefined> {
    return this.#request((requestId) => ({ type: 'peer.dial-succeeded', requestId, publicKey, address, dialMs, ...(latencyMs === undefined ? {} : { latencyMs }) })) as Promise<Peer | undefined>;
  }
  dialFailed(publicKey: PublicKey, address: string, reason: string): Promise<Peer | undefined> {
    return this.#request((requestId) => ({ type: 'peer.dial-failed', requestId, publicKey, address, reason })) as Promise<Peer | undefined>;
  }

  /** Serves what is queued, closes the store, and resolves when the actor is done (or rejects after the client's timeout). */
  stop(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.actor.getSnapshot().status !== 'active') return resolve();
      const timer = setTimeout(() => reject(new TimeoutError('peer manager did not stop in time')), this.timeoutMs);
      this.actor.subscribe({
        complete: () => {
          clearTimeout(timer);
          resolve();
        },
        error: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      this.actor.send({ type: 'peer-manager.stop' });
    });
  }
}
