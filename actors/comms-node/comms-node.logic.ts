/**
 * The node's root with its real implementations: the resources it opens and releases, and every
 * component with its own real logic.
 */
import type { ActorRefFrom } from 'xstate';
import { connectionManagerLogic } from '../connection-manager/connection-manager.logic.js';
import { connectivityLogic } from '../connectivity/connectivity.logic.js';
import { dhtLogic } from '../dht/dht.logic.js';
import { dhtConnectivityLogic } from '../dht-connectivity/dht-connectivity.logic.js';
import { dialerLogic } from '../dialer/dialer.logic.js';
import { listenerLogic } from '../listener/listener.logic.js';
import { messagingLogic } from '../messaging/messaging.logic.js';
import { networkDiscoveryLogic } from '../network-discovery/network-discovery.logic.js';
import { peerManagerLogic } from '../peer-manager/peer-manager.logic.js';
import { rpcClientLogic } from '../rpc-client/rpc-client.logic.js';
import { rpcServerLogic } from '../rpc-server/rpc-server.logic.js';
import { safLogic } from '../saf/saf.logic.js';
import { commsNodeMachine } from './comms-node.machine.js';
import { openResources, releaseResources } from './resources.js';

/** The root machine with its real resources and components. */
export const commsNodeLogic = commsNodeMachine.provide({
  actors: {
    openResources,
    releaseResources,
    peerManager: peerManagerLogic,
    connectivity: connectivityLogic,
    connectionManager: connectionManagerLogic,
    dialer: dialerLogic,
    listener: listenerLogic,
    messaging: messagingLogic,
    rpcServer: rpcServerLogic,
    rpcClient: rpcClientLogic,
    dht: dhtLogic,
    saf: safLogic,
    networkDiscovery: networkDiscoveryLogic,
    dhtConnectivity: dhtConnectivityLogic,
  },
});

/** A node's root actor. */
export type CommsNodeRef = ActorRefFrom<typeof commsNodeLogic>;
