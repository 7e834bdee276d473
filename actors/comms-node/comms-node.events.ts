/**
 * The node's root actor: its mailbox and facts. It owns every component of the node (one actor
 * system per node) and supervises them: a component's crash is an event it handles.
 */
import type { Multiaddr } from '@multiformats/multiaddr';
import type { DoneActorEvent, ErrorActorEvent } from 'xstate';
import type { PlainError } from '../../core/errors.js';
import type { ListenerReport } from '../listener/listener.events.js';
import type { ComponentId } from '../system.js';
import type { NodeComponents } from './components.js';

/** What the node's facade (and anyone holding the root) may send it. */
export type CommsNodeInbox = { type: 'node.start' } | { type: 'node.stop' };

/** Everything the root receives: commands, the listener's report, and its components' ends and crashes. */
export type CommsNodeEvent = CommsNodeInbox | ListenerReport | DoneActorEvent<unknown, ComponentId> | ErrorActorEvent<unknown, ComponentId>;

/** Facts the root emits. */
export type CommsNodeEmitted =
  /** The components are running (their refs, for the facade to follow their facts). */
  | { type: 'node.components'; components: NodeComponents }
  /** Every listener is bound: the node is running. */
  | { type: 'node.running'; addresses: Multiaddr[] }
  /** A component crashed (a bug, not bad input): the node stops. */
  | { type: 'node.component-failed'; component: ComponentId; error: PlainError }
  /** The node could not start, or a component crashed: it stopped and is failed. */
  | { type: 'node.failed'; error: PlainError }
  | { type: 'node.stopped' };
