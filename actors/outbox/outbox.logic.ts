/**
 * An outbox's real writer: messages taken from the queue in order and written with
 * backpressure; each is settled when its write completed.
 */
import { toPlainError } from '../../core/errors.js';
import { messageHeader } from '../../protocols/messaging/index.js';
import { callbackActor } from '../mailbox.js';
import type { WriterReport } from './outbox.events.js';
import type { QueuedMessage } from './outbox-queue.js';
import { outboxMachine, type WriterInput } from './outbox.machine.js';

/**
 * Writes queued messages in order: the 4-byte header and the body (not copied), waiting for the
 * stream to drain when it asks. A message is settled `ok` when the stream took it. When the
 * substream is lost, the messages taken but not yet written go back to the front of the queue.
 * Data from the peer on this substream is a protocol error (PROTOCOL.md section 6): reset.
 */
export const writeMessages = callbackActor<{ type: 'writer.never' }, WriterInput, WriterReport>(({ input, sendBack }) => {
  const { stream, queue } = input;
  let stopped = false;
  let lost = false;
  let flowing = false;
  let draining = false;
  /** Taken from the queue, written to the stream, write not completed yet. */
  const inFlight = new Set<QueuedMessage>();
  /** In flight, and the stream refused the write (it is being destroyed). */
  const errored = new Set<QueuedMessage>();
  const order: QueuedMessage[] = [];
  const onLost = (err?: Error) => {
    if (stopped || lost) return;
    lost = true;
    queue.onPush(undefined);
    // Unwritten messages go back, in order, for the next substream (or to be failed).
    const back = order.filter((m) => inFlight.has(m));
    inFlight.clear();
    errored.clear();
    queue.unshift(back);
    sendBack({ type: 'outbox.lost', error: err ? toPlainError(err) : undefined });
  };
  const onData = () => stream.destroy(Object.assign(new Error('the acceptor wrote on a messaging substream'), { name: 'MessagingViolation' }));
  const pump = () => {
    if (draining || stopped || lost) return;
    for (let m = queue.take(); m; m = queue.take()) {
      const message = m;
      inFlight.add(message);
      order.push(message);
      stream.write(messageHeader(message.body.length));
      const more = stream.write(message.body, (err) => {
        if (!inFlight.has(message)) return; // already put back in the queue
        if (err) {
          // The substream is going: its loss puts the message back for the next one. A writer
          // that is already stopped will not see that, so the message fails here.
          if (stopped) {
            inFlight.delete(message);
            message.settle({ ok: false, error: toPlainError(err) });
          } else errored.add(message);
          return;
        }
        inFlight.delete(message);
        message.settle({ ok: true });
        if (!flowing && !stopped) {
          flowing = true;
          sendBack({ type: 'outbox.flowing' });
        }
      });
      if (order.length > 4096) order.splice(0, order.length - inFlight.size); // keep only what may still be in flight
      if (!more) {
        draining = true;
        stream.once('drain', () => {
          draining = false;
          pump();
        });
        return;
      }
    }
  };
  stream.on('data', onData);
  stream.on('error', onLost);
  stream.on('close', () => onLost());
  queue.onPush(pump);
  pump();
  return () => {
    stopped = true;
    // Writes the stream already refused will not be retried: they fail now. The others settle
    // when their write completes or is refused.
    for (const m of errored) {
      inFlight.delete(m);
      m.settle({ ok: false, error: { name: 'SubstreamLost', message: 'the messaging substream closed before the message was written', kind: 'transport' } });
    }
    errored.clear();
    queue.onPush(undefined);
    stream.off('data', onData);
    if (!lost) stream.end(); // the outbox stops with this writer: end our side
  };
});

/** The outbox machine with its real implementations. */
export const outboxLogic = outboxMachine.provide({ actors: { writeMessages } });
