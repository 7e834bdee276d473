import { expect } from 'chai';
import { negotiateInbound, negotiateOutbound } from '../../../channels/negotiate.js';
import { decodeNegotiationFrame, NegotiationAcceptor, NegotiationOpener, type NegotiationStep } from '../../../protocols/negotiation/index.js';
import { duplexPair } from '../../../transports/memory/duplex-pair.js';
import { recordWrites } from '../../support/recording.js';
import { hex, loadVectors, toHexString } from '../../support/vectors.js';

interface Frame {
  from: 'opener' | 'acceptor';
  flags_byte: string;
  frame_hex: string;
  id: string;
}
interface Case {
  name: string;
  frames: Frame[];
  opener_bytes_hex: string;
  acceptor_bytes_hex: string;
  opener_result: string;
  acceptor_result: string;
}

const { cases } = loadVectors<{ cases: Case[] }>('tcomms-negotiation.json');
/** What a tcomms node supports in these vectors. */
const SUPPORTED = new Set(['/tari/messaging/0.1.0', '/tari/identity/1.0.0']);

function frameOf(hexStr: string) {
  return decodeNegotiationFrame(hex(hexStr))!.frame;
}

/** The opener core can only produce NONE proposals, OPTIMISTIC|TERMINATE and an empty TERMINATE. */
function openerIsReproducible(c: Case): boolean {
  return c.frames.filter((f) => f.from === 'opener').every((f) => f.flags_byte === '00' || f.flags_byte === '03' || (f.flags_byte === '02' && f.id === ''));
}
/** The acceptor core is a compliant tcomms acceptor; one vector shows a misbehaving one. */
function acceptorIsReproducible(c: Case): boolean {
  return !c.acceptor_result.includes('not what was asked');
}

function expectOutcome(step: NegotiationStep, result: string): void {
  if (result.startsWith('selected') || result.startsWith('speaking')) {
    expect(step.kind, result).to.equal('selected');
    expect((step as { protocol: string }).protocol).to.equal(result.split(' ')[1]);
  } else if (result.includes('reset')) {
    expect(step.kind).to.equal('failed');
    expect((step as { end: string }).end).to.equal('reset');
  } else {
    expect(step.kind).to.equal('failed');
    expect((step as { end: string }).end).to.equal('close');
    const name = /^fail (\w+)$/.exec(result)?.[1];
    if (name !== undefined) expect((step as { error: Error }).error.name).to.equal(name);
  }
}

describe('substream negotiation: tcomms-negotiation.json vectors', () => {
  for (const c of cases) {
    describe(c.name, () => {
      if (openerIsReproducible(c)) {
        it('the opener core writes exactly opener_bytes_hex and ends as the vector says', () => {
          const proposals = c.frames.filter((f) => f.from === 'opener' && f.id !== '').map((f) => f.id);
          const optimistic = c.frames[0]!.flags_byte === '03';
          const opener = new NegotiationOpener(proposals, { optimistic });
          const written: string[] = [];
          let step = opener.start();
          if (step.send) written.push(toHexString(step.send));
          for (const f of c.frames.filter((x) => x.from === 'acceptor')) {
            step = opener.receive(frameOf(f.frame_hex));
            if (step.send) written.push(toHexString(step.send));
          }
          const ours = written.join('');
          // The optimistic vector goes on with protocol bytes after the negotiation frame.
          expect(c.opener_bytes_hex.startsWith(ours) && (optimistic || ours === c.opener_bytes_hex), `${ours} vs ${c.opener_bytes_hex}`).to.equal(true);
          if (!c.opener_result.includes('reset by peer')) expectOutcome(step, c.opener_result);
        });
      }
      if (acceptorIsReproducible(c)) {
        it('the acceptor core writes exactly acceptor_bytes_hex and ends as the vector says', () => {
          const acceptor = new NegotiationAcceptor(SUPPORTED);
          let rest = hex(c.opener_bytes_hex);
          const written: string[] = [];
          let step: NegotiationStep | undefined;
          while (rest.length > 0 && (step === undefined || step.kind === 'continue')) {
            let decoded;
            try {
              decoded = decodeNegotiationFrame(rest)!;
            } catch (err) {
              expect((err as Error).name).to.equal('NegotiationViolation');
              step = { kind: 'failed', error: err as never, end: 'reset' };
              break;
            }
            rest = rest.subarray(decoded.used);
            step = acceptor.receive(decoded.frame);
            if (step.send) written.push(toHexString(step.send));
          }
          expect(written.join('')).to.equal(c.acceptor_bytes_hex);
          expectOutcome(step!, c.acceptor_result);
        });
      }
      if (openerIsReproducible(c) && acceptorIsReproducible(c)) {
        it('both shells over a stream pair write the vector bytes and agree', async () => {
          const [a, b] = duplexPair();
          const openerBytes = recordWrites(a);
          const acceptorBytes = recordWrites(b);
          const proposals = c.frames.filter((f) => f.from === 'opener' && f.id !== '').map((f) => f.id);
          const optimistic = c.frames[0]!.flags_byte === '03';
          const [opened, accepted] = await Promise.allSettled([
            negotiateOutbound(a, proposals, { optimistic, timeoutMs: 2000 }),
            negotiateInbound(b, SUPPORTED, { timeoutMs: 2000 }),
          ]);
          const negotiationPart = optimistic ? c.frames[0]!.frame_hex : c.opener_bytes_hex;
          expect(openerBytes()).to.equal(negotiationPart);
          expect(acceptorBytes()).to.equal(c.acceptor_bytes_hex);
          if (c.acceptor_result.startsWith('selected')) {
            expect(accepted.status === 'fulfilled' && accepted.value).to.equal(c.acceptor_result.split(' ')[1]);
          } else expect(accepted.status).to.equal('rejected');
          if (c.opener_result === 'stream reset by peer') {
            // Optimistic: the opener already speaks; then its stream is reset under it.
            expect(opened.status).to.equal('fulfilled');
            await new Promise((resolve) => (a.destroyed ? resolve(undefined) : a.once('close', resolve)));
          } else if (c.opener_result.startsWith('selected') || c.opener_result.startsWith('speaking')) {
            expect(opened.status === 'fulfilled' && opened.value).to.equal(c.opener_result.split(' ')[1]);
          } else expect(opened.status === 'rejected' && (opened.reason as Error).name).to.equal(c.opener_result.split(' ')[1]);
          a.destroy();
          b.destroy();
        });
      }
    });
  }
});
