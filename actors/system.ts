/**
 * The components of a node's actor system, by `systemId`, with the mailbox each offers its
 * siblings (STYLE.md section 3: the root's `systemId` registry is how components find each
 * other). {@link component} looks one up, typed: a send to it is checked against what that
 * component takes from others.
 */
import type { ActorSystem } from 'xstate';
import type { ConnectionManagerInbox } from './connection-manager/connection-manager.events.js';
import type { ConnectivityInbox } from './connectivity/connectivity.events.js';
import type { DhtInbox } from './dht/dht.events.js';
import type { DhtConnectivityInbox } from './dht-connectivity/dht-connectivity.events.js';
import type { DialerInbox } from './dialer/dialer.events.js';
import type { IdentityInbox } from './identity/identity.events.js';
import type { ListenerInbox } from './listener/listener.events.js';
import type { Mailbox } from './mailbox.js';
import type { MessagingInbox } from './messaging/messaging.events.js';
import type { NetworkDiscoveryInbox } from './network-discovery/network-discovery.events.js';
import type { PeerManagerInbox } from './peer-manager/peer-manager.events.js';
import type { RpcClientInbox } from './rpc-client/rpc-client.events.js';
import type { RpcServerInbox } from './rpc-server/rpc-server.events.js';
import type { SafInbox } from './saf/saf.events.js';

/** Each component's public mailbox, by its systemId. */
export interface ComponentMailboxes {
  peerManager: Mailbox<PeerManagerInbox>;
  identity: Mailbox<IdentityInbox>;
  listener: Mailbox<ListenerInbox>;
  dialer: Mailbox<DialerInbox>;
  connectionManager: Mailbox<ConnectionManagerInbox>;
  connectivity: Mailbox<ConnectivityInbox>;
  messaging: Mailbox<MessagingInbox>;
  rpcServer: Mailbox<RpcServerInbox>;
  rpcClient: Mailbox<RpcClientInbox>;
  dht: Mailbox<DhtInbox>;
  saf: Mailbox<SafInbox>;
  networkDiscovery: Mailbox<NetworkDiscoveryInbox>;
  dhtConnectivity: Mailbox<DhtConnectivityInbox>;
}

/** The systemIds of a node's components. */
export type ComponentId = keyof ComponentMailboxes;

/** Every component, in the order the root starts them. */
export const COMPONENTS: readonly ComponentId[] = ['peerManager', 'identity', 'connectivity', 'connectionManager', 'dialer', 'listener', 'messaging', 'rpcServer', 'rpcClient', 'dht', 'networkDiscovery', 'dhtConnectivity', 'saf'];

/** The component registered as `id` in `system`, typed by what it takes (undefined when it is not running). */
export function component<K extends ComponentId>(system: ActorSystem<any>, id: K): ComponentMailboxes[K] | undefined {
  return system.get(id);
}
