/**
 * A peer connection's real implementations: the watcher (inbound substream negotiation against
 * the registry, pongs, the end of the connection), the substream opener and the graceful close;
 * and helpers for code that is not an actor.
 */
import { fromCallback, fromPromise, type Actor, type EventObject } from 'xstate';
import { TcommsError, toPlainError, RequestFailed } from '../../core/errors.js';
import { callbackActor } from '../mailbox.js';
import { negotiateInbound } from '../../channels/negotiate.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import type { YamuxStream } from '../../channels/yamux/stream.js';
import { ask } from '../request.js';
import type { WatchReport } from './peer-connection.events.js';
import { peerConnectionMachine, type OpenSubstreamInput, type WatchInput } from './peer-connection.machine.js';

/**
 * Inbound substreams of one connection being negotiated at once, at most; a new one beyond it is
 * reset at once. A peer that opens hundreds at a time (yamux lets it have 512 open) would
 * otherwise have this node negotiate every one before a handler could refuse it (the hostile
 * bench's 16 peers x 512 messaging substreams: 8,192 negotiations in the first second).
 */
export const MAX_NEGOTIATING_SUBSTREAMS = 64;

/** Negotiates inbound substreams against the registry and reports pongs and the end of the connection. */
export const watchConnection = callbackActor<{ type: 'watch.never' }, WatchInput, WatchReport>(({ input, sendBack }) => {
  const { connection, protocols } = input;
  let stopped = false;
  let negotiating = 0;
  const settled = () => void negotiating--;
  const onStream = (stream: YamuxStream) => {
    stream.on('error', () => {}); // a reset or a negotiation failure ends this substream only
    if (negotiating >= MAX_NEGOTIATING_SUBSTREAMS) return void stream.destroy();
    negotiating++;
    negotiateInbound(stream, (id) => protocols.has(id), { timeoutMs: input.negotiationTimeoutMs }).then(
      (protocol) => {
        settled();
        if (stopped) stream.destroy();
        else sendBack({ type: 'substream.negotiated', stream, protocol });
      },
      settled, // negotiateInbound already closed or reset the stream
    );
  };
  const onPong = (_opaque: number, ms: number) => sendBack({ type: 'keepalive.answered', ms });
  const onClose = (err: TcommsError | undefined) => sendBack({ type: 'connection.ended', error: err?.toPlain() });
  connection.on('stream', onStream);
  connection.muxer.on('pong', onPong);
  connection.once('close', onClose);
  connection.release(); // substreams held since the upgrade come now
  if (connection.muxer.closed) void connection.muxer.closedPromise.then(onClose);
  return () => {
    stopped = true;
    connection.off('stream', onStream);
    connection.muxer.off('pong', onPong);
    connection.off('close', onClose);
  };
});

/** What the requester of a substream hears when the connection's actor ended before the opening did. */
const endedBeforeOpen = { name: 'ConnectionClosed', message: 'the connection ended before the substream was opened', kind: 'transport' } as const;

/**
 * Opens and negotiates one substream, and reports the result to the actor. When the actor ended
 * meanwhile (the connection went), the requester is answered directly: it would wait forever.
 */
export const openSubstream = fromPromise<void, OpenSubstreamInput>(async ({ input, signal }) => {
  const { parent, requestId, replyTo } = input;
  const abandoned = () => replyTo?.send({ type: 'peer-connection.substream', requestId, ok: false, error: endedBeforeOpen });
  try {
    const { stream, protocol } = await input.connection.openStream(input.protocols, { signal, timeoutMs: input.negotiationTimeoutMs });
    if (signal.aborted) {
      stream.destroy();
      return abandoned();
    }
    parent.send({ type: 'substream.opened', requestId, stream, protocol, replyTo });
  } catch (err) {
    if (!signal.aborted) parent.send({ type: 'substream.open-failed', requestId, error: toPlainError(err), replyTo });
    else abandoned();
  }
});

/**
 * Closes the connection gracefully (GoAway(0), then the grace period). The `closing` state
 * leaves when the connection ends, not when this settles, so it is a callback actor: a promise
 * actor stopped while pending aborts its AbortController, and the DOMException that makes cost
 * about 30 us per connection in the dialer's profile.
 */
export const closeConnection = fromCallback<EventObject, PeerConnection>(({ input }) => {
  input.close().catch(() => undefined);
});

/** The machine with its real implementations. */
export const peerConnectionLogic = peerConnectionMachine.provide({ actors: { watchConnection, openSubstream, closeConnection } });
/** A peer-connection actor (one per kept connection, `peerConnection:<NodeId hex>`). */
export type PeerConnectionActor = Actor<typeof peerConnectionLogic>;

/** Opening a substream through a peer-connection actor failed. */
export class SubstreamOpenFailed extends RequestFailed {}

/** Opens a substream for one of `protocols` through a peer-connection actor (for code that is not an actor). */
export async function openSubstreamVia(actor: PeerConnectionActor, protocols: readonly string[], timeoutMs = 15_000): Promise<{ stream: YamuxStream; protocol: string }> {
  const reply = await ask(actor).reply('peer-connection.substream', (requestId) => ({ type: 'peer-connection.open-substream', requestId, protocols }), timeoutMs);
  if (reply.ok) return { stream: reply.stream, protocol: reply.protocol };
  throw new SubstreamOpenFailed(reply.error);
}
