/**
 * The store-and-forward component's mailbox (PROTOCOL.md 9.7; systemId `saf`): control only.
 * Envelopes never pass through it: the DHT's pipeline stores, serves and takes responses on the
 * data path (`saf-service.ts`); this actor holds what lives longer than a message: the requests
 * in flight (one actor each) and the expiry sweep.
 */
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { SafRequestOutcome, SafRequestReport } from '../saf-request/saf-request.events.js';

/** What other actors, the data path and the node's facade may send the `saf` component. */
export type SafInbox =
  | { type: 'saf.stop' }
  /** From the data path: a SAF response from `publicKey` was not taken (`reason`: no request in flight, 9.7). */
  | { type: 'saf.response-rejected'; publicKey: PublicKey; reason: string };

/** The connections, as the component follows them (from `followConnections`). */
export type SafConnections =
  /** A connection was kept to `publicKey`, whose identity claims `features`. */
  | { type: 'saf.peer-connected'; publicKey: PublicKey; features: number }
  | { type: 'saf.peer-disconnected'; publicKey: PublicKey };

/** Everything the component receives. */
export type SafEvent = SafInbox | SafConnections | SafRequestReport;

/** What the component publishes. */
export type SafEmitted =
  /** A request went out to a store-and-forward peer: `round` 1 on connecting, more after a full response. */
  | { type: 'saf.request-started'; publicKey: PublicKey; round: number }
  /** A request ended: `messages` taken from its response. */
  | { type: 'saf.request-ended'; publicKey: PublicKey; outcome: SafRequestOutcome; messages: number; error: PlainError | undefined }
  /** A response was not taken and dropped (9.7: no request in flight to that peer). */
  | { type: 'saf.response-rejected'; publicKey: PublicKey; reason: string }
  /** A store-and-forward peer connected while `maxRequestsInFlight` requests were in flight: nothing asked. */
  | { type: 'saf.request-skipped'; publicKey: PublicKey }
  /** The expiry sweep failed (the store); it is tried again after the interval. */
  | { type: 'saf.sweep-failed'; error: PlainError };
