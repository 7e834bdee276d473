/** The Piscina worker entry: runs a task and moves its result buffer back without copying. */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { runTask, type TaskReply, type TaskRequest } from './tasks.js';

/** Below this many bytes a copy is cheaper than a transfer. */
const MOVE_THRESHOLD = 4096;

export default function work(request: TaskRequest): TaskReply | object | Promise<TaskReply> {
  const reply = runTask(request);
  if (reply instanceof Promise) return reply;
  if (!reply.ok) return reply;
  const out = reply.output as { wire?: Uint8Array; plaintext?: Uint8Array };
  const buffer = out.wire ?? out.plaintext;
  if (buffer === undefined || buffer.byteLength < MOVE_THRESHOLD || buffer.byteLength !== buffer.buffer.byteLength) return reply;
  // A Piscina transferable: the reply is the value, the result's ArrayBuffer is moved.
  return move({ [transferableSymbol]: buffer.buffer, [valueSymbol]: reply } as never) as object;
}
