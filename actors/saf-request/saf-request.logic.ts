/** A store-and-forward request's real side: the store's cursor read and saved, the request written by the DHT. */
import { fromPromise } from 'xstate';
import { safRequestMachine, type LoadSinceInput, type SaveSinceInput, type SendRequestInput } from './saf-request.machine.js';

/** Reads this node's `since` for the peer. */
export const loadSince = fromPromise<number, LoadSinceInput>(({ input }) => input.effects.loadSince(input.peer));

/** Writes the SAF_REQUEST_MESSAGES. */
export const sendRequest = fromPromise<void, SendRequestInput>(({ input }) => input.effects.sendRequest(input.peer, input.since, input.limit));

/** Saves the peer's next `since`. */
export const saveSince = fromPromise<void, SaveSinceInput>(({ input }) => input.effects.saveSince(input.peer, input.storedAt));

/** The request machine with its real effects. */
export const safRequestLogic = safRequestMachine.provide({ actors: { loadSince, sendRequest, saveSince } });
