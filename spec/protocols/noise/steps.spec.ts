import { expect } from 'chai';
import { nativeProvider, stablelibProvider, LowOrderPoint } from '../../../core/crypto/index.js';
import { HandshakeMisuse } from '../../../protocols/noise/errors.js';
import { HandshakeState, type HandshakeSteps } from '../../../protocols/noise/handshake-state.js';
import type { TcommsPattern } from '../../../protocols/noise/tcomms.js';
import { tcommsPrologue } from '../../../protocols/noise/tcomms.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Two sides of a handshake with fixed keys, so that two runs give the same bytes. */
function sides(pattern: TcommsPattern) {
  const keys = [0, 1, 2, 3].map(() => stablelibProvider.x25519Generate());
  const make = () => [
    new HandshakeState(nativeProvider, { pattern, initiator: true, prologue: tcommsPrologue(0), staticKeys: keys[0]!, ephemeralKeys: keys[1]! }),
    new HandshakeState(nativeProvider, { pattern, initiator: false, prologue: tcommsPrologue(0), staticKeys: keys[2]!, ephemeralKeys: keys[3]! }),
  ] as const;
  return make;
}

/** Drive steps, answering each DH with `answer`; records the requests. */
function drive(steps: HandshakeSteps, answer: (own: Uint8Array, remote: Uint8Array) => Uint8Array, seen: string[]): Uint8Array {
  let step = steps.next();
  while (step.done !== true) {
    seen.push(`${step.value.ephemeral ? 'e' : 's'}:${hex(step.value.remote).slice(0, 8)}`);
    step = steps.next(answer(step.value.own.secretKey, step.value.remote));
  }
  return step.value;
}

describe('Noise handshake steps (DH answered by the driver)', () => {
  for (const pattern of ['XX', 'IX'] as const) {
    it(`${pattern}: answering every DH elsewhere (stablelib) gives the bytes of the synchronous path`, () => {
      const make = sides(pattern);
      const [i1, r1] = make();
      const sync: string[] = [];
      let toResponder = true;
      let message = i1.writeMessage();
      sync.push(hex(message));
      while (!i1.complete || !r1.complete) {
        const [reader, writer] = toResponder ? [r1, i1] : [i1, r1];
        reader.readMessage(message);
        if (reader.complete && writer.complete) break;
        message = reader.writeMessage();
        sync.push(hex(message));
        toResponder = !toResponder;
      }
      const [i2, r2] = make();
      const seen: string[] = [];
      const answer = (secret: Uint8Array, remote: Uint8Array) => stablelibProvider.x25519DH({ secretKey: secret, publicKey: new Uint8Array(32) }, remote);
      const stepped: string[] = [];
      toResponder = true;
      message = drive(i2.writeSteps(), answer, seen);
      stepped.push(hex(message));
      while (!i2.complete || !r2.complete) {
        const [reader, writer] = toResponder ? [r2, i2] : [i2, r2];
        drive(reader.readSteps(message), answer, seen);
        if (reader.complete && writer.complete) break;
        message = drive(reader.writeSteps(), answer, seen);
        stepped.push(hex(message));
        toResponder = !toResponder;
      }
      expect(stepped).to.deep.equal(sync);
      expect(seen.length, 'three DH operations on each side').to.equal(6);
      expect(hex(i2.split().handshakeHash)).to.equal(hex(i1.split().handshakeHash));
    });
  }

  it('an all-zero answer is refused with LowOrderPoint, whoever computed it', () => {
    const [initiator, responder] = sides('XX')();
    const steps = responder.readSteps(initiator.writeMessage());
    expect(steps.next().done).to.equal(true);
    const write = responder.writeSteps();
    const first = write.next();
    expect(first.done).to.equal(false);
    expect(() => write.next(new Uint8Array(32))).to.throw(LowOrderPoint);
  });

  it('an answer that is not 32 bytes is a misuse', () => {
    const [initiator, responder] = sides('XX')();
    responder.readMessage(initiator.writeMessage());
    const write = responder.writeSteps();
    write.next();
    expect(() => write.next(new Uint8Array(31).fill(1))).to.throw(HandshakeMisuse);
  });
});
