/**
 * An outbox's real implementations: the opener (a dial and a negotiated messaging substream) and
 * the writer (frames written in order, with backpressure; a message is acknowledged when its
 * write completed).
 */
import type { Duplex } from 'node:stream';
import { fromCallback } from 'xstate';
import { toPlainError } from '../../core/errors.js';
import { messageHeader } from '../../protocols/messaging/index.js';
import type { OutboxMessage, WriterEvent } from './outbox.events.js';
import { outboxMachine, type OpenerInput, type WriterInput } from './outbox.machine.js';

/** Opens the messaging substream; a stream opened after the outbox moved on is closed. */
export const openMessagingStream = fromCallback<{ type: 'never' }, OpenerInput>(({ input, sendBack }) => {
  const controller = new AbortController();
  input.openStream(input.publicKey, controller.signal).then(
    (stream) => {
      if (controller.signal.aborted) stream.destroy();
      else sendBack({ type: 'outbox.opened', stream });
    },
    (err: unknown) => {
      if (!controller.signal.aborted) sendBack({ type: 'outbox.open-failed', error: toPlainError(err) });
    },
  );
  return () => controller.abort();
});

/**
 * Writes messages in order: the 4-byte header and the body (not copied) per message, waiting
 * for the stream to drain when it asks. Data from the peer on this substream is a protocol error
 * (PROTOCOL.md section 6): the substream is reset.
 */
export const writeMessages = fromCallback<WriterEvent, WriterInput>(({ input, sendBack, receive }) => {
  const { stream } = input;
  let stopped = false;
  let lost = false;
  const pending: OutboxMessage[] = [...input.queue];
  let writing = false;
  const onLost = (err?: Error) => {
    if (stopped || lost) return;
    lost = true;
    sendBack({ type: 'outbox.lost', error: err ? toPlainError(err) : undefined });
  };
  const onData = () => stream.destroy(Object.assign(new Error('the acceptor wrote on a messaging substream'), { name: 'MessagingViolation' }));
  stream.on('data', onData);
  stream.on('error', onLost);
  stream.on('close', () => onLost());
  const pump = async () => {
    if (writing) return;
    writing = true;
    while (pending.length > 0 && !stopped && !lost) {
      const message = pending.shift()!;
      stream.write(messageHeader(message.body.length));
      // Acknowledged when the stream took the body (callbacks run in write order).
      const more = stream.write(message.body, (err) => {
        if (!err && !stopped && !lost) sendBack({ type: 'outbox.written', requestId: message.requestId });
      });
      if (!more) {
        await new Promise<void>((resolve) => {
          const done = () => {
            stream.off('drain', done);
            stream.off('close', done);
            resolve();
          };
          stream.on('drain', done);
          stream.on('close', done);
        });
      }
    }
    writing = false;
  };
  void pump();
  receive((event) => {
    pending.push(event.message);
    void pump();
  });
  return () => {
    stopped = true;
    stream.off('data', onData);
    // The outbox stops with this writer (dropped, or its parent stopping): end our side.
    if (!lost) stream.end();
  };
});

/** The outbox machine with its real implementations. */
export const outboxLogic = outboxMachine.provide({ actors: { openMessagingStream, writeMessages } });

/** Writable streams signal backpressure by a false `write()`; the callbacks above wait for each write. */
export type MessagingStream = Duplex;
