/**
 * `protocols/tor-control`: the control-port reply parser (mid, data and end lines, dot-escaped
 * data blocks, 650 events) with small and default bounds, against the replies a generator
 * wrote; in any chunking.
 */
import type { Prng } from '../../core/prng.js';
import { TorControlProtocolError } from '../../protocols/tor-control/errors.js';
import { ControlReplyParser, type ControlReply } from '../../protocols/tor-control/reply.js';
import { chunksOf, oracle, typed, type FuzzCase, type FuzzTarget } from '../harness.js';
import { caseFrom, type Seed } from '../mutate.js';

const encoder = new TextEncoder();
const WORDS = ['OK', 'version=0.4.8.10', 'ServiceID=abc', 'PrivateKey=ED25519-V3:xyz', 'net/listeners/socks="127.0.0.1:9050"', 'CIRC 1 BUILT', 'AUTH METHODS=COOKIE,SAFECOOKIE', 'é ünïcode', ''];

interface ReplySeed extends Seed {
  replies: ControlReply[];
}

function text(rng: Prng): string {
  return Array.from({ length: rng.range(0, 4) }, () => rng.pick(WORDS)).join(' ');
}

function validReplies(rng: Prng): ReplySeed {
  const replies: ControlReply[] = [];
  let wire = '';
  for (let r = rng.range(1, 4); r > 0; r--) {
    const status = rng.pick([250, 250, 251, 510, 552, 650]);
    const reply: ControlReply = { status, lines: [] };
    for (let l = rng.range(0, 3); l > 0; l--) {
      if (rng.chance(0.3)) {
        const lines = Array.from({ length: rng.range(0, 3) }, () => (rng.chance(0.3) ? `.${text(rng)}` : text(rng)));
        const head = text(rng);
        wire += `${status}+${head}\r\n${lines.map((x) => (x.startsWith('.') ? `.${x}` : x)).join('\r\n')}${lines.length > 0 ? '\r\n' : ''}.\r\n`;
        reply.lines.push({ separator: '+', text: head, data: lines.join('\n') });
      } else {
        const t = text(rng);
        wire += `${status}-${t}\r\n`;
        reply.lines.push({ separator: '-', text: t });
      }
    }
    const t = text(rng);
    wire += `${status} ${t}\r\n`;
    reply.lines.push({ separator: ' ', text: t });
    replies.push(reply);
  }
  return { name: `${replies.length} replies`, bytes: encoder.encode(wire), replies, dictionary: ['\r\n', '\n', '.\r\n', '250 ', '250-', '250+', '650 ', '\t', '\x00'].map((s) => encoder.encode(s)) };
}

interface Run {
  replies: string[];
  error: TorControlProtocolError | undefined;
}

function drive(c: FuzzCase, cuts: readonly number[]): Run {
  const limits = c.params.small === true ? { maxLineBytes: 40, maxLines: 6, maxReplyBytes: 200 } : {};
  const parser = new ControlReplyParser(limits);
  const replies: string[] = [];
  for (const chunk of chunksOf(c.bytes, cuts)) {
    try {
      for (const r of parser.push(chunk)) {
        oracle(r.status >= 200 && r.status <= 699 && r.lines.length > 0 && r.lines[r.lines.length - 1]!.separator === ' ', () => `a malformed reply ${JSON.stringify(r)}`);
        if (c.params.small === true) oracle(r.lines.length <= 6, 'a reply beyond the line bound');
        replies.push(JSON.stringify(r));
      }
    } catch (err) {
      const e = typed<TorControlProtocolError>(err, [TorControlProtocolError]);
      let again: unknown;
      try {
        parser.push(encoder.encode('250 OK\r\n'));
      } catch (later) {
        again = later;
      }
      oracle(again === e, 'a broken parser took more input');
      return { replies, error: e };
    }
  }
  return { replies, error: undefined };
}

/** The Tor control reply target. */
export const torControlTarget: FuzzTarget = {
  name: 'tor-control',
  covers: 'ControlReplyParser: mid, data and end lines, data blocks, bounds per line, reply and line count',
  generate(rng) {
    const seed = validReplies(rng);
    const c = caseFrom(rng, [seed], { small: rng.chance(0.3) }, { randomMax: 300 });
    return c.origin.startsWith('valid') ? { ...c, params: { ...c.params, expected: seed.replies.map((r) => JSON.stringify(r)).join('\n') } } : c;
  },
  run(c: FuzzCase) {
    const a = drive(c, c.cuts);
    if (c.origin.startsWith('valid') && c.params.small !== true) {
      oracle(a.error === undefined, () => `valid replies refused: ${a.error?.message}`);
      oracle(a.replies.join('\n') === (c.params.expected as string), 'valid replies parsed differently from what was written');
    }
    if (c.cuts.length > 0) {
      const b = drive(c, []);
      oracle((a.error === undefined) === (b.error === undefined), () => `chunked: ${a.error?.message ?? 'ok'}, whole: ${b.error?.message ?? 'ok'}`);
      // Replies completed by a push that then throws are lost with it: the whole run may show fewer.
      if (a.error === undefined) oracle(a.replies.join('\n') === b.replies.join('\n'), 'chunked and whole runs parsed different replies');
      else oracle(b.replies.every((r, i) => r === a.replies[i]) || a.replies.every((r, i) => r === b.replies[i]), 'chunked and whole runs parsed different replies before the error');
    }
    return a.error === undefined ? (a.replies.length > 0 ? 'replies' : 'pending') : `error:${a.error.detail.split(/[0-9"]/)[0]!.trim()}`;
  },
};
