/**
 * The dialer's real implementation: its machine with the real dial actors (`actors/dial`).
 */
import type { ActorRefFrom } from 'xstate';
import { dialLogic } from '../dial/dial.logic.js';
import { dialerMachine } from './dialer.machine.js';

/** The dialer with real dials. */
export const dialerLogic = dialerMachine.provide({ actors: { dial: dialLogic } });
/** A dialer actor (the node's `dialer` component). */
export type DialerRef = ActorRefFrom<typeof dialerLogic>;
