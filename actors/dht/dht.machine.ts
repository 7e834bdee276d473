/**
 * The DHT actor's state chart (PROTOCOL.md section 9; pure: its effects are named and provided by
 * `dht.logic.ts`). The node's `dht` component (systemId `dht`). Envelopes do not pass through it:
 * the inbound pipeline and the outbound side are a data path (`dht-service.ts`); this actor holds
 * what lives longer than one message.
 *
 * running: the JOIN cycle (9.5, 9.9) - idle until the node comes online, then joining (a signed
 * JOIN with ClosestNodes(self)), then cooling for `joinCooldown` (10 min: at most one JOIN per
 * cool-down; one asked for meanwhile, or a return online, or a failed JOIN makes it join again
 * when the cool-down ends), then joined until the node goes offline. Alongside, in every running
 * state: one discovery actor per target key (`discovery:<NodeId hex>`, at most
 * `maxPendingDiscoveries`; later requests for the key join it), responses routed to the discovery
 * whose nonce they carry, claims from JOINs and DISCOVERYs stored through the peer manager,
 * DISCOVERYs answered, violations reported to connectivity with their ban length (9.9).
 * stopped: every discovery is cancelled and its requests answered.
 *
 * Discoveries are spawned children (not a host): they are bounded by `maxPendingDiscoveries`, so
 * XState's copy of the children on each spawn stays small.
 */
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { toPlainError, type PlainError } from '../../core/errors.js';
import { nodeIdOf, type PublicKey } from '../../core/keys.js';
import { PMap } from '../../core/pmap.js';
import type { ConnectivityStatus } from '../connectivity/connectivity.events.js';
import { claimSighting } from '../discovery/claims.js';
import { discoveryMachine, type DiscoveryEffects } from '../discovery/discovery.machine.js';
import { callbackActor, type Mailbox } from '../mailbox.js';
import { notProvided } from '../not-provided.js';
import { component } from '../system.js';
import { DEFAULT_DHT_CONFIG, type DhtConfig } from './dht-config.js';
import type { DhtConnectivity, DhtDiscoveryReply, DhtEmitted, DhtEvent } from './dht.events.js';

/** What the actor's effects do: the DHT service's outbound side. */
export interface DhtEffects extends DiscoveryEffects {
  /** Builds and sends a JOIN with ClosestNodes(self); resolves with the number of nodes it went to, rejects when none. */
  sendJoin(): Promise<number>;
  /** Answers a DISCOVERY: a DISCOVERY_RESPONSE with this node's claim and `nonce`, DirectPublicKey to `origin`. */
  answerDiscovery(origin: PublicKey, nonce: bigint): void;
  /** A random u64 (a discovery's nonce). */
  newNonce(): bigint;
}

/** What the DHT actor is started with. */
export interface DhtInput {
  config: Pick<DhtConfig, 'autoJoin' | 'joinCooldownMs' | 'discoveryTimeoutMs' | 'maxPendingDiscoveries'>;
  effects: DhtEffects;
}

/** A request waiting on a discovery. */
interface Waiter {
  requestId: string;
  replyTo: Mailbox<DhtDiscoveryReply> | undefined;
}

/** A discovery in flight, by target key hex. */
interface Pending {
  nonce: bigint;
  waiters: readonly Waiter[];
}

/** The DHT actor's context. */
export interface DhtContext {
  input: DhtInput;
  /** The node is online (connectivity online or degraded: it has connections). */
  online: boolean;
  /** A JOIN is due when the cool-down ends (asked for, back online, or the last one failed). */
  rejoinDue: boolean;
  /** Target public key hex -> the discovery in flight. */
  discoveries: PMap<Pending>;
}

/** What `answerDiscovery` is given. */
export interface AnswerParams {
  origin: PublicKey;
  nonce: bigint;
}

/** Input of `sendJoin`. */
export interface SendJoinInput {
  effects: DhtEffects;
}

/** The id of the discovery actor of a target. */
export const discoveryId = (publicKey: Uint8Array) => `discovery:${toHex(nodeIdOf(publicKey))}`;

const isOnline = (status: ConnectivityStatus) => status === 'online' || status === 'degraded';
const cfg = <K extends keyof DhtInput['config']>(c: DhtContext, k: K): DhtInput['config'][K] => c.input.config[k] ?? DEFAULT_DHT_CONFIG[k];

const aborted: PlainError = { name: 'DiscoveryCancelled', message: 'the DHT stopped', kind: 'aborted' };

/** The DHT state chart (see the module comment). */
export const dhtMachine = setup({
  types: {
    context: {} as DhtContext,
    events: {} as DhtEvent,
    input: {} as DhtInput,
    emitted: {} as DhtEmitted,
  },
  actors: {
    discovery: discoveryMachine,
    sendJoin: fromPromise<number, SendJoinInput>(notProvided('sendJoin', 'dht.logic.ts')),
    /** Follows the connectivity component's status (`dht.connectivity`). */
    followConnectivity: callbackActor<{ type: 'follow.never' }, undefined, DhtConnectivity>(notProvided('followConnectivity', 'dht.logic.ts')),
  },
  delays: {
    joinCooldown: ({ context }) => cfg(context, 'joinCooldownMs'),
  },
  guards: {
    autoJoinOnline: ({ context, event }) => event.type === 'dht.connectivity' && isOnline(event.status) && cfg(context, 'autoJoin'),
    wentOffline: ({ event }) => event.type === 'dht.connectivity' && !isOnline(event.status),
    isOnline: ({ context }) => context.online,
    rejoinDueOnline: ({ context }) => context.rejoinDue && context.online,
    discoveryRunning: ({ context, event }) => event.type === 'dht.discover' && context.discoveries.has(toHex(event.publicKey)),
    tooManyDiscoveries: ({ context }) => context.discoveries.size >= cfg(context, 'maxPendingDiscoveries'),
    /** A response from the target of a discovery in flight, with its nonce (9.5: any other is dropped). */
    responseInFlight: ({ context, event }) => {
      if (event.type !== 'dht.discovery-response') return false;
      const pending = context.discoveries.get(toHex(event.from));
      return pending !== undefined && pending.nonce === event.nonce;
    },
  },
  actions: {
    noteStatus: assign(({ event }) => (event.type === 'dht.connectivity' ? { online: isOnline(event.status) } : {})),
    /** While cooling down, a return online (with auto-join) makes a JOIN due at the end. */
    noteStatusCooling: assign(({ context, event }) => {
      if (event.type !== 'dht.connectivity') return {};
      const online = isOnline(event.status);
      return { online, rejoinDue: context.rejoinDue || (!context.online && online && cfg(context, 'autoJoin')) };
    }),
    markRejoin: assign({ rejoinDue: true }),
    clearRejoin: assign({ rejoinDue: false }),
    announceJoined: enqueueActions(({ enqueue }, params: { peers: number }) => enqueue.emit({ type: 'dht.joined', peers: params.peers })),
    announceJoinFailed: enqueueActions(({ enqueue }, params: { error: unknown }) => enqueue.emit({ type: 'dht.join-failed', error: toPlainError(params.error) })),
    startDiscovery: enqueueActions(({ context, event, enqueue, self }) => {
      if (event.type !== 'dht.discover') return;
      const key = toHex(event.publicKey);
      const nonce = context.input.effects.newNonce();
      enqueue.assign({ discoveries: context.discoveries.set(key, { nonce, waiters: [{ requestId: event.requestId, replyTo: event.replyTo }] }) });
      enqueue.spawnChild('discovery', {
        id: discoveryId(event.publicKey),
        input: { key, target: event.publicKey, nonce, timeoutMs: cfg(context, 'discoveryTimeoutMs'), effects: context.input.effects, owner: self },
      });
    }),
    joinDiscovery: assign(({ context, event }) => {
      if (event.type !== 'dht.discover') return {};
      const key = toHex(event.publicKey);
      const pending = context.discoveries.get(key)!;
      return { discoveries: context.discoveries.set(key, { ...pending, waiters: [...pending.waiters, { requestId: event.requestId, replyTo: event.replyTo }] }) };
    }),
    refuseDiscovery: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'dht.discover') return;
      const error: PlainError = { name: 'TooManyDiscoveries', message: `${cfg(context, 'maxPendingDiscoveries')} discoveries are in flight`, kind: 'transport' };
      const reply: DhtDiscoveryReply = { type: 'dht.discovery-result', requestId: event.requestId, outcome: { ok: false, error } };
      if (event.replyTo) enqueue.sendTo(event.replyTo, reply);
      else enqueue.emit(reply);
    }),
    /** A discovery's outcome answers every request that waited on it; the finished discovery is let go. */
    settleDiscovery: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'discovery.ended') return;
      const pending = context.discoveries.get(event.key);
      if (!pending) return;
      enqueue.stopChild(discoveryId(Buffer.from(event.key, 'hex')));
      for (const w of pending.waiters) {
        const reply: DhtDiscoveryReply = { type: 'dht.discovery-result', requestId: w.requestId, outcome: event.outcome };
        if (w.replyTo) enqueue.sendTo(w.replyTo, reply);
        else enqueue.emit(reply);
      }
      enqueue.assign({ discoveries: context.discoveries.delete(event.key) });
    }),
    routeResponse: enqueueActions(({ enqueue, event }) => {
      if (event.type !== 'dht.discovery-response') return;
      enqueue.sendTo(discoveryId(event.from), { type: 'discovery.response', claim: event.claim, nonce: event.nonce, ignored: event.ignored });
    }),
    /** Every discovery is stopped and its requests answered with an abort. */
    cancelDiscoveries: enqueueActions(({ context, enqueue }) => {
      for (const [key, pending] of context.discoveries) {
        enqueue.stopChild(discoveryId(Buffer.from(key, 'hex')));
        for (const w of pending.waiters) {
          const reply: DhtDiscoveryReply = { type: 'dht.discovery-result', requestId: w.requestId, outcome: { ok: false, error: aborted } };
          if (w.replyTo) enqueue.sendTo(w.replyTo, reply);
          else enqueue.emit(reply);
        }
      }
      enqueue.assign({ discoveries: PMap.empty() });
    }),
    /** A relayed claim goes to the peer manager (unless it names an address kind this node does not accept, 9.5). */
    storeClaim: enqueueActions(({ event, enqueue, self, system }) => {
      if (event.type !== 'dht.join-received' && event.type !== 'dht.discovery-requested') return;
      if (event.ignored) return;
      const peerManager = component(system, 'peerManager');
      const sighting = claimSighting(event.claim);
      if (peerManager) enqueue.sendTo(peerManager, { type: 'peer.add', requestId: `dht-claim:${toHex(sighting.publicKey)}`, sighting, replyTo: self });
    }),
    /** The DISCOVERY_RESPONSE (this node's claim, the same nonce) goes DirectPublicKey to the origin. */
    answerDiscovery: (_, _params: AnswerParams) => notProvided('answerDiscovery', 'dht.logic.ts')(),
    announceAnswered: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'dht.discovery-requested') enqueue.emit({ type: 'dht.discovery-answered', origin: event.origin });
    }),
    /** The peer is reported to connectivity (which bans it for `durationMs` and disconnects it) and published. */
    reportViolation: enqueueActions(({ event, enqueue, system }) => {
      if (event.type !== 'dht.violation') return;
      const connectivity = component(system, 'connectivity');
      const error: PlainError = { name: 'DhtViolation', message: event.reason, kind: 'protocol' };
      if (connectivity) enqueue.sendTo(connectivity, { type: 'peer.violation', publicKey: event.publicKey, error, durationMs: event.durationMs });
      enqueue.emit({ type: 'dht.violation', publicKey: event.publicKey, reason: event.reason, durationMs: event.durationMs });
    }),
  },
}).createMachine({
  id: 'dht',
  context: ({ input }) => ({ input, online: false, rejoinDue: false, discoveries: PMap.empty() }),
  initial: 'running',
  states: {
    running: {
      description: 'The JOIN cycle; discoveries, claims, answers and violations in every substate.',
      invoke: { id: 'followConnectivity', src: 'followConnectivity' },
      initial: 'idle',
      on: {
        'dht.discover': [
          { guard: 'discoveryRunning', actions: 'joinDiscovery' },
          { guard: 'tooManyDiscoveries', actions: 'refuseDiscovery' },
          { actions: 'startDiscovery' },
        ],
        'discovery.ended': { actions: 'settleDiscovery' },
        'dht.discovery-response': { guard: 'responseInFlight', actions: 'routeResponse' },
        'dht.join-received': { actions: 'storeClaim' },
        'dht.discovery-requested': {
          actions: ['storeClaim', { type: 'answerDiscovery', params: ({ event }) => ({ origin: event.origin, nonce: event.nonce }) }, 'announceAnswered'],
        },
        'dht.violation': { actions: 'reportViolation' },
        'dht.stop': { target: 'stopped' },
      },
      states: {
        idle: {
          description: 'No JOIN pending: the node is offline (or does not join by itself).',
          on: {
            'dht.connectivity': [{ guard: 'autoJoinOnline', target: 'joining', actions: 'noteStatus' }, { actions: 'noteStatus' }],
            'dht.join': { target: 'joining' },
          },
        },
        joining: {
          description: 'A signed JOIN (this node\'s claim) goes to ClosestNodes(self).',
          entry: 'clearRejoin',
          invoke: {
            id: 'sendJoin',
            src: 'sendJoin',
            input: ({ context }) => ({ effects: context.input.effects }),
            onDone: { target: 'cooling', actions: { type: 'announceJoined', params: ({ event }) => ({ peers: event.output }) } },
            onError: { target: 'cooling', actions: ['markRejoin', { type: 'announceJoinFailed', params: ({ event }) => ({ error: event.error }) }] },
          },
          on: { 'dht.connectivity': { actions: 'noteStatus' } },
        },
        cooling: {
          description: 'At most one JOIN per cool-down (10 min); one due meanwhile goes out at its end.',
          after: {
            joinCooldown: [{ guard: 'rejoinDueOnline', target: 'joining' }, { guard: 'isOnline', target: 'joined' }, { target: 'idle' }],
          },
          on: { 'dht.connectivity': { actions: 'noteStatusCooling' }, 'dht.join': { actions: 'markRejoin' } },
        },
        joined: {
          description: 'Joined and online.',
          on: {
            'dht.connectivity': [{ guard: 'wentOffline', target: 'idle', actions: 'noteStatus' }, { actions: 'noteStatus' }],
            'dht.join': { target: 'joining' },
          },
        },
      },
    },
    stopped: {
      description: 'Every discovery was cancelled and its requests answered.',
      type: 'final',
      entry: 'cancelDiscoveries',
    },
  },
});
