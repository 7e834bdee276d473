/**
 * The opener and acceptor of PROTOCOL.md section 4 as sans-I/O state machines: each takes the
 * peer's frames and says what to write, and how the substream ends.
 */
import { equals } from '../../core/bytes.js';
import { MAX_ROUNDS, NegotiationFlag, encodeNegotiationFrame, idText, protocolIdBytes, type NegotiationFrame } from './frame.js';
import { NegotiationViolation, ProtocolNegotiationTerminatedByPeer, ProtocolNotSupported } from './errors.js';
import type { TcommsError } from '../../core/errors.js';

/** What to do next. `send` is written before acting on the rest. */
export type NegotiationStep =
  /** Wait for the next frame from the peer. */
  | { kind: 'continue'; send?: Uint8Array }
  /** The protocol is agreed; its bytes follow on the substream. */
  | { kind: 'selected'; protocol: string; send?: Uint8Array }
  /** The negotiation failed; end the substream with FIN ('close') or RST ('reset'). */
  | { kind: 'failed'; error: TcommsError; send?: Uint8Array; end: 'close' | 'reset' };

const EMPTY = new Uint8Array(0);

/** The side that opened the substream and proposes protocols. */
export class NegotiationOpener {
  readonly #protocols: readonly string[];
  readonly #ids: Uint8Array[];
  readonly #optimistic: boolean;
  #next = 0;
  #written = 0;
  #done = false;

  /** `protocols` in order of preference; optimistic mode proposes only the first. */
  constructor(protocols: readonly string[], init: { optimistic?: boolean } = {}) {
    if (protocols.length === 0) throw new RangeError('at least one protocol is needed');
    this.#protocols = protocols;
    this.#ids = protocols.map(protocolIdBytes);
    this.#optimistic = init.optimistic ?? false;
  }

  /** The first frame. In optimistic mode the protocol is selected at once. */
  start(): NegotiationStep {
    if (this.#optimistic) {
      this.#done = true;
      return { kind: 'selected', protocol: this.#protocols[0]!, send: encodeNegotiationFrame(this.#ids[0]!, NegotiationFlag.OPTIMISTIC | NegotiationFlag.TERMINATE) };
    }
    return { kind: 'continue', send: this.#propose() };
  }

  /** A frame from the acceptor. */
  receive(frame: NegotiationFrame): NegotiationStep {
    if (this.#done) return this.#fail(new NegotiationViolation('a frame after the negotiation ended'), 'reset');
    const proposed = this.#ids[this.#next - 1]!;
    if ((frame.flags & NegotiationFlag.TERMINATE) !== 0) return this.#fail(new ProtocolNegotiationTerminatedByPeer(), 'close');
    if (frame.flags === NegotiationFlag.NONE && equals(frame.id, proposed)) {
      this.#done = true;
      return { kind: 'selected', protocol: this.#protocols[this.#next - 1]! };
    }
    if (frame.flags === NegotiationFlag.NOT_SUPPORTED && frame.id.length === 0) {
      // Five frames written: not even a TERMINATE may follow.
      if (this.#written >= MAX_ROUNDS) return this.#fail(new ProtocolNotSupported(this.#protocols), 'close');
      // The next candidate if any is left; otherwise the closing TERMINATE (still within 5 frames).
      if (this.#next < this.#ids.length) {
        return { kind: 'continue', send: this.#propose() };
      }
      this.#written++;
      return this.#fail(new ProtocolNotSupported(this.#protocols), 'close', encodeNegotiationFrame(EMPTY, NegotiationFlag.TERMINATE));
    }
    return this.#fail(new NegotiationViolation(`unexpected reply (flags 0x${frame.flags.toString(16)}, id "${idText(frame.id)}")`), 'reset');
  }

  #propose(): Uint8Array {
    this.#written++;
    return encodeNegotiationFrame(this.#ids[this.#next++]!, NegotiationFlag.NONE);
  }

  #fail(error: TcommsError, end: 'close' | 'reset', send?: Uint8Array): NegotiationStep {
    this.#done = true;
    return send === undefined ? { kind: 'failed', error, end } : { kind: 'failed', error, end, send };
  }
}

/** The side that accepted the substream and answers proposals. */
export class NegotiationAcceptor {
  readonly #supports: (protocol: string) => boolean;
  #round = 0;
  #done = false;

  constructor(supports: ReadonlySet<string> | ((protocol: string) => boolean)) {
    this.#supports = typeof supports === 'function' ? supports : (p) => supports.has(p);
  }

  /** A frame from the opener. */
  receive(frame: NegotiationFrame): NegotiationStep {
    if (this.#done) return { kind: 'failed', error: new NegotiationViolation('a frame after the negotiation ended'), end: 'reset' };
    this.#round++;
    const id = idText(frame.id);
    const supported = frame.id.length > 0 && this.#supports(id);
    if ((frame.flags & NegotiationFlag.OPTIMISTIC) !== 0) {
      this.#done = true;
      if (supported) return { kind: 'selected', protocol: id };
      return { kind: 'failed', error: new ProtocolNotSupported([id]), end: 'reset' };
    }
    if ((frame.flags & NegotiationFlag.TERMINATE) !== 0) {
      this.#done = true;
      return { kind: 'failed', error: new ProtocolNegotiationTerminatedByPeer(), end: 'close' };
    }
    if (frame.flags !== NegotiationFlag.NONE) {
      this.#done = true;
      return { kind: 'failed', error: new NegotiationViolation(`the opener sent flags 0x${frame.flags.toString(16)}`), end: 'reset' };
    }
    if (supported) {
      this.#done = true;
      return { kind: 'selected', protocol: id, send: encodeNegotiationFrame(frame.id, NegotiationFlag.NONE) };
    }
    if (this.#round >= MAX_ROUNDS) {
      this.#done = true;
      return { kind: 'failed', error: new ProtocolNotSupported([id]), end: 'close', send: encodeNegotiationFrame(EMPTY, NegotiationFlag.NOT_SUPPORTED | NegotiationFlag.TERMINATE) };
    }
    return { kind: 'continue', send: encodeNegotiationFrame(EMPTY, NegotiationFlag.NOT_SUPPORTED) };
  }
}
