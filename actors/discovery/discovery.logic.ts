/** A discovery's real side: the DISCOVERY sent by the DHT's outbound side. */
import { fromPromise } from 'xstate';
import { discoveryMachine, type SendDiscoveryInput } from './discovery.machine.js';

/** Sends the DISCOVERY (the DHT service seals it and chooses the peers). */
export const sendDiscovery = fromPromise<number, SendDiscoveryInput>(({ input }) => input.effects.sendDiscovery(input.target, input.nonce));

/** The discovery machine with its real sending. */
export const discoveryLogic = discoveryMachine.provide({ actors: { sendDiscovery } });
