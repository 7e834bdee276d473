/**
 * The Tor control protocol's reply syntax (control-spec section 2.3), parsed strictly:
 *
 *   Reply     = *(MidReplyLine / DataReplyLine) EndReplyLine
 *   MidLine   = StatusCode "-" text CRLF
 *   DataLine  = StatusCode "+" text CRLF *(data line CRLF) "." CRLF
 *   EndLine   = StatusCode SP text CRLF
 *
 * Sans-I/O: bytes in, complete replies out. Every line of a reply has the same 3-digit status;
 * status 650 marks an asynchronous event. Lines, data and replies are bounded, so a hostile or
 * broken control port cannot grow memory: exceeding a bound is a {@link TorControlProtocolError}.
 */
import { TorControlProtocolError } from './errors.js';

/** One line of a control-port reply: status code, separator and text (with its data block). */
export interface ReplyLine {
  /** `-` mid line, `+` line with data, ` ` end line. */
  separator: '-' | '+' | ' ';
  text: string;
  /** The data block of a `+` line, dot-unescaped, lines joined with `\n`. */
  data?: string;
}

/** A complete control-port reply (or asynchronous 650 event). */
export interface ControlReply {
  status: number;
  lines: ReplyLine[];
}

/** Bounds of {@link ControlReplyParser}. */
export interface ReplyLimits {
  /** Longest line, CRLF excluded (default 64 KiB). */
  maxLineBytes?: number;
  /** Most lines in one reply, data lines included (default 100 000). */
  maxLines?: number;
  /** Most bytes buffered for one reply (default 8 MiB: a full consensus is not asked for). */
  maxReplyBytes?: number;
}

const CR = 0x0d;
const LF = 0x0a;

/** Push-bytes parser of control-port replies, bounded per line, per reply and in lines. */
export class ControlReplyParser {
  readonly #maxLine: number;
  readonly #maxLines: number;
  readonly #maxReply: number;
  #pending: Buffer = Buffer.alloc(0);
  #lines: ReplyLine[] = [];
  #status = -1;
  #replyBytes = 0;
  #lineCount = 0;
  /** While reading a data block: the `+` line it belongs to and its lines so far. */
  #data: { line: ReplyLine; parts: string[] } | undefined;
  #error: TorControlProtocolError | undefined;

  constructor(limits: ReplyLimits = {}) {
    this.#maxLine = limits.maxLineBytes ?? 64 * 1024;
    this.#maxLines = limits.maxLines ?? 100_000;
    this.#maxReply = limits.maxReplyBytes ?? 8 * 1024 * 1024;
  }

  /** Feeds bytes; returns the replies completed by them. Throws once broken, and ever after. */
  push(bytes: Uint8Array): ControlReply[] {
    if (this.#error) throw this.#error;
    try {
      return this.#push(bytes);
    } catch (err) {
      this.#error = err as TorControlProtocolError;
      throw err;
    }
  }

  #push(bytes: Uint8Array): ControlReply[] {
    this.#pending = this.#pending.length === 0 ? Buffer.from(bytes) : Buffer.concat([this.#pending, bytes]);
    const out: ControlReply[] = [];
    let start = 0;
    for (;;) {
      const lf = this.#pending.indexOf(LF, start);
      if (lf < 0) break;
      if (lf === start || this.#pending[lf - 1] !== CR) throw new TorControlProtocolError('a line does not end with CRLF');
      if (lf - 1 - start > this.#maxLine) throw new TorControlProtocolError(`a line is longer than ${this.#maxLine} bytes`);
      const line = this.#pending.subarray(start, lf - 1);
      this.#replyBytes += lf + 1 - start;
      start = lf + 1;
      if (++this.#lineCount > this.#maxLines) throw new TorControlProtocolError(`a reply has more than ${this.#maxLines} lines`);
      if (this.#replyBytes > this.#maxReply) throw new TorControlProtocolError(`a reply is longer than ${this.#maxReply} bytes`);
      const done = this.#line(line);
      if (done) out.push(done);
    }
    this.#pending = this.#pending.subarray(start);
    if (this.#pending.length > this.#maxLine + 2) throw new TorControlProtocolError(`a line is longer than ${this.#maxLine} bytes`);
    return out;
  }

  #line(raw: Buffer): ControlReply | undefined {
    const text = decodeText(raw);
    if (this.#data) {
      if (text === '.') {
        this.#data.line.data = this.#data.parts.join('\n');
        this.#data = undefined;
      } else {
        this.#data.parts.push(text.startsWith('.') ? text.slice(1) : text);
      }
      return undefined;
    }
    if (raw.length < 4) throw new TorControlProtocolError('a reply line is shorter than a status and a separator');
    const code = text.slice(0, 3);
    if (!/^[2-6][0-9][0-9]$/.test(code)) throw new TorControlProtocolError(`bad status code ${JSON.stringify(code)}`);
    const status = Number(code);
    if (this.#status >= 0 && status !== this.#status) throw new TorControlProtocolError(`status ${status} inside a ${this.#status} reply`);
    this.#status = status;
    const separator = text[3];
    if (separator !== '-' && separator !== '+' && separator !== ' ') throw new TorControlProtocolError(`bad separator ${JSON.stringify(separator)}`);
    const line: ReplyLine = { separator, text: text.slice(4) };
    this.#lines.push(line);
    if (separator === '+') this.#data = { line, parts: [] };
    if (separator !== ' ') return undefined;
    const reply: ControlReply = { status, lines: this.#lines };
    this.#lines = [];
    this.#status = -1;
    this.#replyBytes = 0;
    this.#lineCount = 0;
    return reply;
  }
}

/** Control characters (other than tab) in a line are rejected rather than guessed at. */
function decodeText(raw: Buffer): string {
  for (const b of raw) {
    if (b === 0x7f || (b < 0x20 && b !== 0x09)) throw new TorControlProtocolError(`byte 0x${b.toString(16)} in a reply line`);
  }
  return raw.toString('utf8');
}
