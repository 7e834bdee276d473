/**
 * The node's root state chart: one actor system per node (STYLE.md section 3). The root owns
 * every component, each under its `systemId` (`actors/system.ts`), and supervises them.
 *
 * idle -> starting (opening: the peer store, its bans, the worker pool and the Noise channel;
 * binding: the components are started, and the listener binds every listen address) ->
 * running -> stopping (quiescing: connectivity, messaging, identity, the listener and the
 * dialer stop and every connection closes gracefully; closingStore: the peer manager serves
 * what is queued and closes the store; releasing: the pool) -> stopped. A listener that cannot
 * bind, resources that cannot be opened, or a component that crashes (a bug) lead through
 * stopping to failed: the other components stop cleanly, nothing is left open, and the failure
 * is published. Every wait of the stop is bounded.
 */
import type { Multiaddr } from '@multiformats/multiaddr';
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import { toPlainError, type PlainError } from '../../core/errors.js';
import { connectionManagerMachine } from '../connection-manager/connection-manager.machine.js';
import { connectivityMachine } from '../connectivity/connectivity.machine.js';
import { dhtMachine } from '../dht/dht.machine.js';
import { dhtConnectivityMachine } from '../dht-connectivity/dht-connectivity.machine.js';
import { dialerMachine } from '../dialer/dialer.machine.js';
import { identityMachine } from '../identity/identity.machine.js';
import { listenerMachine } from '../listener/listener.machine.js';
import { messagingMachine } from '../messaging/messaging.machine.js';
import { networkDiscoveryMachine } from '../network-discovery/network-discovery.machine.js';
import { notProvided } from '../not-provided.js';
import { peerManagerMachine } from '../peer-manager/peer-manager.machine.js';
import { rpcClientMachine } from '../rpc-client/rpc-client.machine.js';
import { rpcServerMachine } from '../rpc-server/rpc-server.machine.js';
import { safMachine } from '../saf/saf.machine.js';
import type { ComponentId } from '../system.js';
import type { CommsNodeEmitted, CommsNodeEvent } from './comms-node.events.js';
import {
  connectionManagerInput,
  connectivityInput,
  dhtConnectivityInput,
  dhtInput,
  dialerInput,
  identityInput,
  listenerInput,
  messagingInput,
  networkDiscoveryInput,
  peerManagerInput,
  rpcClientInput,
  rpcServerInput,
  safInput,
  upgradeConfig,
  type CommsNodeInput,
  type NodeComponents,
} from './components.js';
import type { NodeResources, OpenResourcesInput, ReleaseResourcesInput } from './resources.js';

/** Bounds of the stop (ms). */
export const DEFAULT_NODE_STOP = Object.freeze({
  /** Beyond the graceful close's grace period, for the connections to end. */
  closeSlackMs: 5_000,
  /** The peer manager's last writes and the store's close. */
  storeCloseMs: 10_000,
  /** Releasing the pool (and closing the store, if the peer manager did not). */
  releaseMs: 10_000,
});

/** The root's context. */
export interface CommsNodeContext {
  input: CommsNodeInput;
  resources: NodeResources | undefined;
  components: NodeComponents | undefined;
  /** The bound listen addresses. */
  addresses: Multiaddr[];
  /** Why the node failed (or is failing). */
  error: PlainError | undefined;
  /** The peer manager closed the store. */
  storeClosed: boolean;
}

/** The root state chart (see the module comment). */
export const commsNodeMachine = setup({
  types: {
    context: {} as CommsNodeContext,
    events: {} as CommsNodeEvent,
    input: {} as CommsNodeInput,
    emitted: {} as CommsNodeEmitted,
  },
  actors: {
    openResources: fromPromise<NodeResources, OpenResourcesInput>(notProvided('openResources', 'comms-node.logic.ts')),
    releaseResources: fromPromise<void, ReleaseResourcesInput>(notProvided('releaseResources', 'comms-node.logic.ts')),
    peerManager: peerManagerMachine,
    identity: identityMachine,
    connectivity: connectivityMachine,
    connectionManager: connectionManagerMachine,
    dialer: dialerMachine,
    listener: listenerMachine,
    messaging: messagingMachine,
    rpcServer: rpcServerMachine,
    rpcClient: rpcClientMachine,
    dht: dhtMachine,
    saf: safMachine,
    networkDiscovery: networkDiscoveryMachine,
    dhtConnectivity: dhtConnectivityMachine,
  },
  delays: {
    /** The connections' graceful close, and some slack for them to end. */
    closeGrace: ({ context }) => context.input.config.timeouts.closeGraceMs + DEFAULT_NODE_STOP.closeSlackMs,
    storeClose: DEFAULT_NODE_STOP.storeCloseMs,
    release: DEFAULT_NODE_STOP.releaseMs,
  },
  guards: {
    failing: ({ context }) => context.error !== undefined,
    noConnectionManager: ({ context }) => context.components === undefined,
    noPeerManager: ({ context }) => context.components === undefined,
  },
  actions: {
    /**
     * Every component starts, each under its systemId, in this order: the peer manager, the
     * identity (whose claim every upgrade sends), connectivity, the connection manager, the
     * dialer, the listener (which reports to the root when it is bound), messaging, the RPC
     * server and client pool, and the DHT, network discovery and the DHT pools (`dhtConnectivity`)
     * when the DHT is enabled, and store-and-forward beside the DHT.
     */
    startComponents: assign(({ context, spawn, self }, params: { resources: NodeResources }) => {
      const { input } = context;
      const r = params.resources;
      const identity = spawn('identity', { id: 'identity', systemId: 'identity', input: identityInput(input) });
      const upgrade = upgradeConfig(input, r, identity);
      const peerManager = spawn('peerManager', { id: 'peerManager', systemId: 'peerManager', input: peerManagerInput(input, r) });
      const connectivity = spawn('connectivity', { id: 'connectivity', systemId: 'connectivity', input: connectivityInput(input) });
      const connectionManager = spawn('connectionManager', { id: 'connectionManager', systemId: 'connectionManager', input: connectionManagerInput(input) });
      const components: NodeComponents = {
        peerManager,
        identity,
        connectivity,
        connectionManager,
        dialer: spawn('dialer', { id: 'dialer', systemId: 'dialer', input: dialerInput(input, upgrade) }),
        listener: spawn('listener', { id: 'listener', systemId: 'listener', input: listenerInput(input, r, upgrade, self) }),
        messaging: input.config.messaging.enabled ? spawn('messaging', { id: 'messaging', systemId: 'messaging', input: messagingInput() }) : undefined,
        rpcServer: spawn('rpcServer', { id: 'rpcServer', systemId: 'rpcServer', input: rpcServerInput(input) }),
        rpcClient: spawn('rpcClient', { id: 'rpcClient', systemId: 'rpcClient', input: rpcClientInput(input) }),
        dht: input.dht ? spawn('dht', { id: 'dht', systemId: 'dht', input: dhtInput(input, input.dht) }) : undefined,
        networkDiscovery:
          input.dht && input.config.dht?.networkDiscovery.enabled
            ? spawn('networkDiscovery', { id: 'networkDiscovery', systemId: 'networkDiscovery', input: networkDiscoveryInput(input, r, connectionManager, connectivity) })
            : undefined,
        dhtConnectivity: input.dht ? spawn('dhtConnectivity', { id: 'dhtConnectivity', systemId: 'dhtConnectivity', input: dhtConnectivityInput(input, connectivity) }) : undefined,
        saf: undefined,
      };
      const saf = input.dht ? safInput(input, input.dht) : undefined;
      if (saf) components.saf = spawn('saf', { id: 'saf', systemId: 'saf', input: saf });
      return { resources: r, components };
    }),
    announceComponents: enqueueActions(({ context, enqueue }) => {
      if (context.components) enqueue.emit({ type: 'node.components', components: context.components });
    }),
    /** The bound addresses go to the identity actor, which claims the dialable ones. */
    keepAddresses: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'listener.listening') return;
      enqueue.assign({ addresses: event.addresses });
      if (context.components) enqueue.sendTo(context.components.identity, { type: 'identity.addresses-bound', addresses: event.addresses });
    }),
    announceRunning: enqueueActions(({ context, enqueue }) => enqueue.emit({ type: 'node.running', addresses: context.addresses })),
    /** Network discovery begins once the node's claim names its bound addresses. */
    startNetworkDiscovery: enqueueActions(({ context, enqueue }) => {
      if (context.components?.networkDiscovery) enqueue.sendTo(context.components.networkDiscovery, { type: 'network-discovery.node-running' });
    }),
    recordListenFailure: assign(({ event }) => (event.type === 'listener.failed' ? { error: event.error } : {})),
    recordOpenFailure: assign((_, params: { error: unknown }) => ({ error: toPlainError(params.error) })),
    /** A component crashed (a bug): published; the node stops and ends failed. */
    recordCrash: enqueueActions(({ context, enqueue }, params: { actorId: ComponentId; error: unknown }) => {
      const component = params.actorId;
      const error: PlainError = { ...toPlainError(params.error), kind: 'internal' };
      enqueue.emit({ type: 'node.component-failed', component, error });
      if (context.error === undefined) enqueue.assign({ error: { name: 'ComponentCrashed', message: `the ${component} component failed: ${error.name}: ${error.message}`, kind: 'internal' } });
    }),
    /** Everything but the peer manager stops; the connection manager closes every connection gracefully. */
    stopServices: enqueueActions(({ context, enqueue }) => {
      const c = context.components;
      if (!c) return;
      enqueue.sendTo(c.connectivity, { type: 'connectivity.stop' });
      if (c.messaging) enqueue.sendTo(c.messaging, { type: 'messaging.stop' });
      if (c.dht) enqueue.sendTo(c.dht, { type: 'dht.stop' });
      if (c.dhtConnectivity) enqueue.sendTo(c.dhtConnectivity, { type: 'dht-connectivity.stop' });
      if (c.saf) enqueue.sendTo(c.saf, { type: 'saf.stop' });
      if (c.networkDiscovery) enqueue.sendTo(c.networkDiscovery, { type: 'network-discovery.stop' });
      enqueue.sendTo(c.rpcClient, { type: 'rpc-client.stop' });
      enqueue.sendTo(c.rpcServer, { type: 'rpc-server.stop' });
      enqueue.sendTo(c.identity, { type: 'identity.stop' });
      enqueue.sendTo(c.listener, { type: 'listener.stop' });
      enqueue.sendTo(c.dialer, { type: 'dialer.stop' });
      enqueue.sendTo(c.connectionManager, { type: 'connection-manager.stop' });
    }),
    stopPeerManager: enqueueActions(({ context, enqueue }) => {
      if (context.components) enqueue.sendTo(context.components.peerManager, { type: 'peer-manager.stop' });
    }),
    markStoreClosed: assign({ storeClosed: true }),
    announceStopped: enqueueActions(({ enqueue }) => enqueue.emit({ type: 'node.stopped' })),
    announceFailed: enqueueActions(({ context, enqueue }) => {
      enqueue.emit({ type: 'node.failed', error: context.error ?? { name: 'NodeFailed', message: 'the node failed', kind: 'internal' } });
    }),
  },
}).createMachine({
  id: 'commsNode',
  context: ({ input }) => ({ input, resources: undefined, components: undefined, addresses: [], error: undefined, storeClosed: false }),
  initial: 'idle',
  on: {
    // A component's crash is handled in every state: it never takes the root down with it.
    'xstate.error.actor.*': { actions: { type: 'recordCrash', params: ({ event }) => ({ actorId: event.actorId, error: event.error }) } },
  },
  states: {
    idle: {
      description: 'Built, not started.',
      on: { 'node.start': { target: 'starting' }, 'node.stop': { target: 'stopped' } },
    },
    starting: {
      initial: 'opening',
      on: { 'node.stop': { target: 'stopping' } },
      states: {
        opening: {
          description: 'Opening the peer store (and loading its bans), the worker pool and the Noise channel.',
          invoke: {
            id: 'openResources',
            src: 'openResources',
            input: ({ context }) => ({ config: context.input.config, now: context.input.now }),
            onDone: { target: 'binding', actions: [{ type: 'startComponents', params: ({ event }) => ({ resources: event.output }) }, 'announceComponents'] },
            onError: { target: '#commsNode.stopping', actions: { type: 'recordOpenFailure', params: ({ event }) => ({ error: event.error }) } },
          },
        },
        binding: {
          description: 'The components run; the listener binds every listen address.',
          on: {
            'listener.listening': { target: '#commsNode.running', actions: 'keepAddresses' },
            'listener.failed': { target: '#commsNode.stopping', actions: 'recordListenFailure' },
            'xstate.error.actor.*': { target: '#commsNode.stopping', actions: { type: 'recordCrash', params: ({ event }) => ({ actorId: event.actorId, error: event.error }) } },
          },
        },
      },
    },
    running: {
      description: 'Listening, dialing, messaging; every component under supervision.',
      entry: ['announceRunning', 'startNetworkDiscovery'],
      on: {
        'node.stop': { target: 'stopping' },
        'xstate.error.actor.*': { target: 'stopping', actions: { type: 'recordCrash', params: ({ event }) => ({ actorId: event.actorId, error: event.error }) } },
      },
    },
    stopping: {
      initial: 'quiescing',
      states: {
        quiescing: {
          description: 'Connectivity, messaging, identity, the listener and the dialer stop; every connection closes gracefully (GoAway).',
          entry: 'stopServices',
          always: { guard: 'noConnectionManager', target: 'releasing' },
          on: { 'xstate.done.actor.connectionManager': { target: 'closingStore' } },
          after: { closeGrace: { target: 'closingStore' } },
        },
        closingStore: {
          description: 'The peer manager serves what is queued and closes the store.',
          entry: 'stopPeerManager',
          always: { guard: 'noPeerManager', target: 'releasing' },
          on: { 'xstate.done.actor.peerManager': { target: 'releasing', actions: 'markStoreClosed' } },
          after: { storeClose: { target: 'releasing' } },
        },
        releasing: {
          description: 'The worker pool is released (and the store closed, if the peer manager did not).',
          invoke: {
            id: 'releaseResources',
            src: 'releaseResources',
            input: ({ context }) => ({ resources: context.resources, storeClosed: context.storeClosed }),
            onDone: [{ guard: 'failing', target: '#commsNode.failed' }, { target: '#commsNode.stopped' }],
            onError: [{ guard: 'failing', target: '#commsNode.failed' }, { target: '#commsNode.stopped' }],
          },
          after: { release: [{ guard: 'failing', target: '#commsNode.failed' }, { target: '#commsNode.stopped' }] },
        },
      },
    },
    stopped: { type: 'final', entry: 'announceStopped' },
    failed: { type: 'final', entry: 'announceFailed' },
  },
});
