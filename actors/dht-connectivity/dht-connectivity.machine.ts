/**
 * The DHT connectivity state chart (PROTOCOL.md 9.9, tari_comms_dht's DhtConnectivity; pure: its
 * effects are provided by `dht-connectivity.logic.ts`). The node's `dhtConnectivity` component,
 * started with the DHT. It keeps two pools of nodes (peers with feature bit 0, never clients,
 * never banned) connected: the neighbour pool, the `numNeighbours` (8) closest to this node by XOR
 * distance, and the random pool, `numRandom` (4) others chosen at random, one in each distance
 * bucket beyond the neighbours first (`spreadOverBuckets`: a node with no connection in a bucket is
 * a dead end for Propagate).
 *
 * initializing: the first choice from the peer store; with nobody to choose and the node
 * offline -> waiting, until the node comes online, the peer store learns a node, or a check
 * interval passed. running, four regions:
 * - pools: a selection from the peer store (`selectPools`) when one is due: `fill` tops the pools
 *   up (after a member was replaced or banned, or a check found them short), `full` chooses both
 *   afresh (every `refreshInterval`, 2 h, or when asked);
 * - redial: while a member waits for a re-dial, every `redialTick` the members whose backoff
 *   ended are dialled (one timer, however many members wait);
 * - checker: every `checkInterval` (2 min) the shunned peers whose time ended are forgotten, idle
 *   members dialled, the pools topped up if short, and extras minimized if that is on;
 * - refresher: every `refreshInterval` a full selection.
 * - settler: a stored node closer than the farthest member of a full neighbour pool makes a
 *   `fill` due `neighbourSettle` (30 s) later, one for all the closer nodes stored meanwhile, so
 *   that the pool moves once per burst (the syncs and JOINs of nodes arriving), not once per node.
 * In every running state: a stored node that would fill a vacancy of either pool makes a `fill`
 * selection due at once (one runs at a time: the nodes stored meanwhile are taken by the next, so
 * a burst of them costs two queries of the store, not one each); members are
 * dialled through the connection manager; a lost member is dialled again after a backoff that
 * doubles (re-dial ticks: 1, 2, 4, ... up to `maxRedialBackoff`); after `maxMemberFailures` failed
 * dials or short-lived connections in a row (a connection that outlived a check starts the count
 * afresh) it is replaced and shunned for `shunMs` (counted in checks). No decision reads a clock:
 * backoffs and shunning count ticks of the named delays. The pool members are kept from the connectivity
 * reaper (`connectivity.keep`). With `minimizeConnections`, once both pools are full and
 * connected, connections this node dialled to peers in no pool are closed (the farthest first;
 * inbound ones are their dialler's to keep or close) while the node has
 * more than `minimizeThreshold`; clients only with `minimizeClients`, never an exempt peer.
 * stopped: the pools are released to the reaper.
 */
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { PMap } from '../../core/pmap.js';
import { callbackActor } from '../mailbox.js';
import { notProvided } from '../not-provided.js';
import { component } from '../system.js';
import {
  cfg,
  connectionsWith,
  counted,
  extrasOf,
  failed,
  failuresAfter,
  findMember,
  isOnline,
  KEEP_HOLDER,
  MAX_SHUNNED,
  POOL_DIAL,
  subjectOf,
  withMember,
  type DhtConnectivityContext,
  type DhtConnectivityInput,
  type SelectPoolsInput,
  type Shunned,
} from './dht-connectivity.context.js';
import type { DhtConnectivityEmitted, DhtConnectivityEvent, DhtConnectivityFact } from './dht-connectivity.events.js';
import {
  applySelection,
  isNode,
  redialTicks,
  wantsNeighbour,
  type ConnectionEntry,
  type PoolMember,
  type PoolSelection,
  type SelectionMode,
} from './pools.js';

export { KEEP_HOLDER, MAX_SHUNNED, POOL_DIAL, type DhtConnectivityContext, type DhtConnectivityInput, type SelectPoolsInput } from './dht-connectivity.context.js';

/** Whether `event` stored a node the pools may take: a node, not this one, not shunned. */
function storedNode(context: DhtConnectivityContext, event: DhtConnectivityEvent): event is Extract<DhtConnectivityEvent, { type: 'dht-connectivity.peer-stored' }> {
  return event.type === 'dht-connectivity.peer-stored' && isNode(event.peer) && event.peer.hex !== toHex(context.input.self.publicKey) && !context.shunned.has(event.peer.hex);
}

/** Whether `event` stored a node that belongs among the neighbours: room left, or closer than the farthest (not a random member). */
function belongsAmongNeighbours(context: DhtConnectivityContext, event: DhtConnectivityEvent): boolean {
  if (!storedNode(context, event) || context.random.some((m) => m.hex === event.peer.hex)) return false;
  return wantsNeighbour(context.neighbours, event.peer, context.input.self.nodeId, cfg(context).numNeighbours);
}

/** The DHT connectivity state chart (see the module comment). */
export const dhtConnectivityMachine = setup({
  types: {
    context: {} as DhtConnectivityContext,
    events: {} as DhtConnectivityEvent,
    input: {} as DhtConnectivityInput,
    emitted: {} as DhtConnectivityEmitted,
  },
  actors: {
    /** The closest and random nodes of the peer store (banned, offline, clients, self and `exclude` left out). */
    selectPools: fromPromise<PoolSelection, SelectPoolsInput>(notProvided('selectPools', 'dht-connectivity.logic.ts')),
    /** Follows the siblings' facts: connectivity's status, the peer manager's new and banned peers, the connection manager's connections. */
    followSiblings: callbackActor<{ type: 'follow.never' }, undefined, DhtConnectivityFact>(notProvided('followSiblings', 'dht-connectivity.logic.ts')),
  },
  delays: {
    checkInterval: ({ context }) => cfg(context).checkIntervalMs,
    refreshInterval: ({ context }) => cfg(context).refreshIntervalMs,
    neighbourSettle: ({ context }) => cfg(context).neighbourSettleMs,
    redialTick: ({ context }) => cfg(context).redialBackoffMs,
  },
  guards: {
    isOnline: ({ context }) => context.online,
    selectedAny: (_, params: { selection: PoolSelection }) => params.selection.neighbours.length + params.selection.random.length > 0,
    wentOnline: ({ event }) => event.type === 'dht-connectivity.status' && isOnline(event.status),
    /** A stored node, not this one nor shunned. */
    nodeStored: ({ context, event }) => storedNode(context, event),
    selectionDue: ({ context }) => context.due !== undefined,
    /** A stored node that belongs among the neighbours: closer than the farthest of a full pool (it waits for the pool to settle). */
    closerNeighbour: ({ context, event }) => belongsAmongNeighbours(context, event) && context.neighbours.length >= cfg(context).numNeighbours,
    /** A stored node that belongs among the neighbours, and the pool has room (it is taken at once). */
    neighbourVacancy: ({ context, event }) => belongsAmongNeighbours(context, event) && context.neighbours.length < cfg(context).numNeighbours,
    /** A closer node is waiting for the pool to settle. */
    closerPending: ({ context }) => context.closerPending,
    /** A stored node in no pool, and the random pool has room. */
    randomVacancy: ({ context, event }) => storedNode(context, event) && !findMember(context, event.peer.hex) && context.random.length < cfg(context).numRandom,
    memberBanned: ({ context, event }) => event.type === 'dht-connectivity.peer-banned' && subjectOf(context, event) !== undefined,
    /** A member was deleted from the store, or evicted by it (an unverified record past the bound). */
    memberDeleted: ({ context, event }) => event.type === 'dht-connectivity.peer-deleted' && subjectOf(context, event) !== undefined,
    /**
     * A member's dial failed or its connection ended, and that makes `maxMemberFailures` in a row,
     * while the node is online: offline, the fault is likely its own, and members keep their
     * places (re-dialled at the longest backoff) rather than all being shunned.
     */
    memberFailedTooOften: ({ context, event }) => {
      const m = failed(event) && context.online ? subjectOf(context, event) : undefined;
      return m !== undefined && failuresAfter(event, m) >= cfg(context).maxMemberFailures;
    },
    memberFailed: ({ context, event }) => failed(event) && subjectOf(context, event) !== undefined,
    memberDialled: ({ context, event }) => event.type === 'connection-manager.reply' && event.ok && subjectOf(context, event) !== undefined,
    redialWaiting: ({ context }) => [...context.neighbours, ...context.random].some((m) => m.waitTicks !== undefined),
    poolsShort: ({ context }) => context.neighbours.length < cfg(context).numNeighbours || context.random.length < cfg(context).numRandom,
    minimizeDue: ({ context, event }) => extrasOf(context, event).length > 0,
  },
  actions: {
    noteStatus: assign(({ event }) => (event.type === 'dht-connectivity.status' ? { online: isOnline(event.status) } : {})),
    addConnection: assign(({ context, event }) => {
      if (event.type !== 'dht-connectivity.connected') return {};
      const hex = event.connection.hex;
      const member = findMember(context, hex);
      return { connections: context.connections.set(hex, event.connection), ...(member ? withMember(context, hex, (m) => ({ ...m, stable: false, waitTicks: undefined })) : {}) };
    }),
    removeConnection: assign(({ context, event }) => (event.type === 'dht-connectivity.disconnected' ? { connections: context.connections.delete(toHex(event.publicKey)) } : {})),
    markFill: assign(({ context }) => ({ due: context.due ?? 'fill' })),
    markRefresh: assign({ due: 'full' as const }),
    /** A closer node was stored: the neighbour pool moves once it settles. */
    markCloser: assign({ closerPending: true }),
    /** The pool settled: one `fill` for the closer nodes stored meanwhile. */
    fillCloser: assign(({ context }) => ({ due: context.due ?? 'fill', closerPending: false })),
    startSelection: assign(({ context }) => ({ selecting: context.due ?? 'fill', due: undefined, counters: counted(context, 'selections') })),
    /** The selection becomes the pools (see `applySelection`). */
    applySelection: assign(({ context }, params: { selection: PoolSelection; mode: SelectionMode }) => applySelection(context, params.selection, params.mode, cfg(context), context.input.self.nodeId)),
    /** Every member neither connected, nor being dialled, nor waiting for its re-dial is dialled through the connection manager. */
    dialMembers: enqueueActions(({ context, enqueue, self, system }) => {
      const idle = [...context.neighbours, ...context.random].filter((m) => !context.connections.has(m.hex) && !m.dialing && m.waitTicks === undefined);
      if (idle.length === 0) return;
      const hexes = new Set(idle.map((m) => m.hex));
      const mark = (pool: readonly PoolMember[]) => pool.map((m) => (hexes.has(m.hex) ? { ...m, dialing: true } : m));
      enqueue.assign({ neighbours: mark(context.neighbours), random: mark(context.random), counters: counted(context, 'dials', idle.length) });
      const cm = component(system, 'connectionManager');
      if (cm) for (const m of idle) enqueue.sendTo(cm, { type: 'connection-manager.dial', requestId: POOL_DIAL + m.hex, publicKey: m.publicKey, replyTo: self });
    }),
    /** One re-dial tick passed: members whose backoff ended wait no more (`dialMembers` dials them). */
    countDown: assign(({ context }) => {
      const tick = (pool: readonly PoolMember[]) => pool.map((m) => (m.waitTicks === undefined ? m : { ...m, waitTicks: m.waitTicks <= 1 ? undefined : m.waitTicks - 1 }));
      return { neighbours: tick(context.neighbours), random: tick(context.random) };
    }),
    /** Members connected at a check have outlived it. */
    markStable: assign(({ context }) => {
      const mark = (pool: readonly PoolMember[]) => pool.map((m) => (context.connections.has(m.hex) && !m.stable ? { ...m, stable: true } : m));
      return { neighbours: mark(context.neighbours), random: mark(context.random) };
    }),
    noteDialled: assign(({ context, event }) => (event.type === 'connection-manager.reply' ? withMember(context, event.requestId.slice(POOL_DIAL.length), (m) => ({ ...m, dialing: false })) : {})),
    /** A failed or lost member waits for its backoff. */
    scheduleRedial: assign(({ context, event }) => {
      const m = subjectOf(context, event);
      if (!m) return {};
      const failures = failuresAfter(event, m);
      const waitTicks = redialTicks(failures, cfg(context));
      const dialing = event.type === 'connection-manager.reply' ? false : m.dialing;
      return withMember(context, m.hex, (x) => ({ ...x, failures, waitTicks, dialing, stable: false }));
    }),
    /** A member that failed too often leaves its pool and is shunned; a selection fills its place. */
    replaceMember: enqueueActions(({ context, event, enqueue }) => {
      const m = subjectOf(context, event);
      if (!m) return;
      const found = findMember(context, m.hex)!;
      const failures = failuresAfter(event, m);
      const checksLeft = Math.max(1, Math.ceil(cfg(context).shunMs / cfg(context).checkIntervalMs));
      const shunned = context.shunned.size < MAX_SHUNNED ? context.shunned.set(m.hex, { publicKey: m.publicKey, checksLeft }) : context.shunned;
      enqueue.assign({ ...withMember(context, m.hex, () => undefined), shunned, due: context.due ?? 'fill', counters: counted(context, 'replaced') });
      enqueue.emit({ type: 'dht-connectivity.replaced', publicKey: m.publicKey, pool: found.pool, failures });
    }),
    /** A banned member leaves its pool (the peer store will not choose it while banned); a selection fills its place. */
    dropMember: assign(({ context, event }) => {
      const m = subjectOf(context, event);
      return m ? { ...withMember(context, m.hex, () => undefined), due: context.due ?? 'fill' } : {};
    }),
    /** One check passed: shunned peers whose time ended may be chosen again. */
    expireShunned: assign(({ context }) => {
      let shunned = context.shunned;
      for (const [hex, s] of context.shunned) shunned = s.checksLeft <= 1 ? shunned.delete(hex) : shunned.set(hex, { ...s, checksLeft: s.checksLeft - 1 });
      return { shunned };
    }),
    /** Connections to peers in no pool are closed, the farthest first, down to the threshold; they count as gone at once. */
    minimizeConnections: enqueueActions(({ context, event, enqueue, system }) => {
      const extras = extrasOf(context, event);
      if (extras.length === 0) return;
      let connections = connectionsWith(context, event);
      for (const e of extras) connections = connections.delete(e.hex);
      enqueue.assign({ connections, counters: counted(context, 'minimized', extras.length) });
      const cm = component(system, 'connectionManager');
      if (cm) for (const e of extras) enqueue.sendTo(cm, { type: 'connection-manager.disconnect', publicKey: e.publicKey });
      enqueue.emit({ type: 'dht-connectivity.minimized', publicKeys: extras.map((e) => e.publicKey) });
    }),
    /** When the pools changed: announced, and their members kept from the connectivity reaper. */
    publishPools: enqueueActions(({ context, enqueue, system }) => {
      const key = `${context.neighbours.map((m) => m.hex).join(',')}|${context.random.map((m) => m.hex).join(',')}`;
      if (key === context.announced) return;
      enqueue.assign({ announced: key });
      const connectivity = component(system, 'connectivity');
      if (connectivity) enqueue.sendTo(connectivity, { type: 'connectivity.keep', holder: KEEP_HOLDER, publicKeys: [...context.neighbours, ...context.random].map((m) => m.publicKey) });
      enqueue.emit({ type: 'dht-connectivity.pools', neighbours: context.neighbours.map((m) => m.publicKey), random: context.random.map((m) => m.publicKey) });
    }),
    /** The pools are released to the reaper. */
    releasePools: enqueueActions(({ enqueue, system }) => {
      const connectivity = component(system, 'connectivity');
      if (connectivity) enqueue.sendTo(connectivity, { type: 'connectivity.keep', holder: KEEP_HOLDER, publicKeys: [] });
    }),
  },
}).createMachine({
  id: 'dhtConnectivity',
  context: ({ input }) => ({
    input,
    neighbours: [],
    random: [],
    connections: PMap.empty<ConnectionEntry>(),
    online: false,
    due: undefined,
    selecting: 'full',
    shunned: PMap.empty<Shunned>(),
    announced: '|',
    closerPending: false,
    counters: { dials: 0, replaced: 0, minimized: 0, selections: 0 },
  }),
  invoke: { id: 'followSiblings', src: 'followSiblings' },
  initial: 'initializing',
  on: {
    'dht-connectivity.status': { actions: 'noteStatus' },
    'dht-connectivity.connected': { actions: 'addConnection' },
    'dht-connectivity.disconnected': { actions: 'removeConnection' },
    'dht-connectivity.stop': { target: '.stopped' },
  },
  states: {
    initializing: {
      description: 'The first choice of both pools from the peer store (a node stored meanwhile makes a second one due).',
      entry: ['markRefresh', 'startSelection'],
      on: { 'dht-connectivity.peer-stored': { guard: 'nodeStored', actions: 'markFill' } },
      invoke: {
        id: 'selectPools',
        src: 'selectPools',
        input: ({ context }) => ({ self: context.input.self.nodeId, numNeighbours: cfg(context).numNeighbours, numRandom: cfg(context).numRandom, exclude: [...context.shunned.values()].map((s) => s.publicKey) }),
        onDone: [
          { guard: { type: 'selectedAny', params: ({ event }) => ({ selection: event.output }) }, target: 'running', actions: [{ type: 'applySelection', params: ({ event }) => ({ selection: event.output, mode: 'full' as const }) }, 'dialMembers', 'publishPools'] },
          { guard: 'isOnline', target: 'running' },
          { guard: 'selectionDue', target: 'initializing', reenter: true },
          { target: 'waiting' },
        ],
        onError: { target: 'waiting' },
      },
    },
    waiting: {
      description: 'Nobody to choose and the node offline: until it comes online, the peer store learns a node, or a check interval passed.',
      on: {
        'dht-connectivity.status': [{ guard: 'wentOnline', target: 'initializing', actions: 'noteStatus' }, { actions: 'noteStatus' }],
        'dht-connectivity.peer-stored': { guard: 'nodeStored', target: 'initializing' },
        'dht-connectivity.refresh': { target: 'initializing' },
      },
      after: { checkInterval: { target: 'initializing' } },
    },
    running: {
      type: 'parallel',
      description: 'The pools kept connected: topped up, refreshed, members re-dialled, extras minimized.',
      on: {
        'dht-connectivity.refresh': { actions: 'markRefresh' },
        'dht-connectivity.peer-stored': [
          { guard: 'neighbourVacancy', actions: 'markFill' },
          { guard: 'closerNeighbour', actions: 'markCloser' },
          { guard: 'randomVacancy', actions: 'markFill' },
        ],
        'dht-connectivity.peer-banned': { guard: 'memberBanned', actions: ['dropMember', 'publishPools'] },
        'dht-connectivity.peer-deleted': { guard: 'memberDeleted', actions: ['dropMember', 'publishPools'] },
        'dht-connectivity.connected': [{ guard: 'minimizeDue', actions: ['addConnection', 'minimizeConnections'] }, { actions: 'addConnection' }],
        'dht-connectivity.disconnected': [
          { guard: 'memberFailedTooOften', actions: ['replaceMember', 'removeConnection', 'publishPools'] },
          { guard: 'memberFailed', actions: ['scheduleRedial', 'removeConnection'] },
          { actions: 'removeConnection' },
        ],
        'connection-manager.reply': [
          { guard: 'memberFailedTooOften', actions: ['replaceMember', 'publishPools'] },
          { guard: 'memberFailed', actions: 'scheduleRedial' },
          { guard: 'memberDialled', actions: 'noteDialled' },
        ],
      },
      states: {
        pools: {
          initial: 'idle',
          states: {
            idle: {
              always: { guard: 'selectionDue', target: 'selecting' },
            },
            selecting: {
              description: 'The closest and random nodes from the peer store: `fill` tops the pools up, `full` chooses both afresh.',
              entry: 'startSelection',
              invoke: {
                id: 'selectPools',
                src: 'selectPools',
                input: ({ context }) => ({ self: context.input.self.nodeId, numNeighbours: cfg(context).numNeighbours, numRandom: cfg(context).numRandom, exclude: [...context.shunned.values()].map((s) => s.publicKey) }),
                onDone: { target: 'idle', actions: [{ type: 'applySelection', params: ({ context, event }) => ({ selection: event.output, mode: context.selecting }) }, 'dialMembers', 'publishPools'] },
                onError: { target: 'idle' },
              },
            },
          },
        },
        redial: {
          initial: 'idle',
          states: {
            idle: {
              always: { guard: 'redialWaiting', target: 'backingOff' },
            },
            backingOff: {
              description: 'Members wait for their re-dial; each tick dials those whose backoff ended.',
              after: { redialTick: { target: 'idle', actions: ['countDown', 'dialMembers'] } },
            },
          },
        },
        checker: {
          initial: 'waiting',
          states: {
            waiting: {
              after: { checkInterval: { target: 'checking', actions: ['expireShunned', 'markStable', 'dialMembers'] } },
            },
            checking: {
              always: [{ guard: 'poolsShort', target: 'minimizing', actions: 'markFill' }, { target: 'minimizing' }],
            },
            minimizing: {
              always: [{ guard: 'minimizeDue', target: 'waiting', actions: 'minimizeConnections' }, { target: 'waiting' }],
            },
          },
        },
        settler: {
          initial: 'idle',
          states: {
            idle: {
              always: { guard: 'closerPending', target: 'settling' },
            },
            settling: {
              description: 'Closer nodes were stored while the neighbour pool was full: one selection takes them all once this wait ends.',
              after: { neighbourSettle: { target: 'idle', actions: 'fillCloser' } },
            },
          },
        },
        refresher: {
          initial: 'waiting',
          states: {
            waiting: {
              after: { refreshInterval: { target: 'waiting', reenter: true, actions: 'markRefresh' } },
            },
          },
        },
      },
    },
    stopped: {
      description: 'The pools were released to the reaper.',
      type: 'final',
      entry: 'releasePools',
    },
  },
});
