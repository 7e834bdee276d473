/**
 * `protocols/socks5`: the reader of a proxy's replies (method selection, username/password
 * status, CONNECT reply with each address type) followed by tunnel bytes; in any chunking it
 * must give the same verdict, bound address and count of exchange bytes.
 */
import type { Prng } from '../../core/prng.js';
import { Socks5AuthFailed, Socks5NoAcceptableMethod, Socks5Rejected, Socks5ReplyMalformed } from '../../protocols/socks5/errors.js';
import { METHOD_NO_AUTH, METHOD_USER_PASS, Socks5ReplyReader } from '../../protocols/socks5/reply.js';
import { chunksOf, oracle, typed, type FuzzCase, type FuzzTarget } from '../harness.js';
import { caseFrom, type Seed } from '../mutate.js';
import { concatAll } from './util.js';

const OFFERS: Record<string, number[]> = { none: [METHOD_NO_AUTH], password: [METHOD_USER_PASS], both: [METHOD_NO_AUTH, METHOD_USER_PASS] };

function validReplies(rng: Prng, offered: readonly number[]): Seed {
  const method = rng.pick(offered);
  const parts: Uint8Array[] = [Uint8Array.of(5, method)];
  if (method === METHOD_USER_PASS) parts.push(Uint8Array.of(1, 0));
  const atyp = rng.pick([1, 3, 4]);
  const address = atyp === 1 ? rng.bytes(4) : atyp === 4 ? rng.bytes(16) : (() => {
    const name = rng.bytes(rng.range(1, 255)).map((b) => 0x61 + (b % 26));
    return concatAll([Uint8Array.of(name.length), name]);
  })();
  parts.push(Uint8Array.of(5, 0, 0, atyp), address, rng.bytes(2));
  const exchange = concatAll(parts);
  const tunnel = rng.bytes(rng.int(40));
  const lengthFields = atyp === 3 ? [{ offset: exchange.length - address.length - 2, size: 1 as const }] : [];
  return { name: `method ${method}, atyp ${atyp}`, bytes: concatAll([exchange, tunnel]), lengthFields, dictionary: [Uint8Array.of(5), Uint8Array.of(0xff), Uint8Array.of(1), Uint8Array.of(3), Uint8Array.of(4)] };
}

const ERRORS = [Socks5ReplyMalformed, Socks5NoAcceptableMethod, Socks5AuthFailed, Socks5Rejected];

interface Run {
  verdict: string;
  consumed: number;
  bound: string;
}

function drive(c: FuzzCase, cuts: readonly number[]): Run {
  const reader = new Socks5ReplyReader(OFFERS[c.params.offered as string]!);
  let returned = 0;
  for (const chunk of chunksOf(c.bytes, cuts)) {
    let n: number;
    try {
      n = reader.push(chunk);
    } catch (err) {
      const e = typed<Error>(err, ERRORS);
      oracle(reader.error === e, 'the error is not kept');
      // Broken for good: every later push throws the same error.
      let again: unknown;
      try {
        reader.push(new Uint8Array(1));
      } catch (later) {
        again = later;
      }
      oracle(again === e, 'a push after the error did not throw it again');
      return { verdict: `error:${e.name}`, consumed: reader.consumed, bound: '' };
    }
    oracle(n >= 0 && n <= chunk.length, () => `push returned ${n} for ${chunk.length} bytes`);
    returned += n;
    oracle(reader.consumed <= 2 + 2 + 4 + 256 + 2, () => `${reader.consumed} bytes of exchange`);
  }
  if (reader.stage === 'done') {
    oracle(returned === reader.consumed, () => `push returned ${returned} bytes in all, the exchange is ${reader.consumed}`);
    oracle(reader.push(new Uint8Array(5)) === 0, 'bytes after the reply were taken');
    const b = reader.bound!;
    return { verdict: 'done', consumed: reader.consumed, bound: `${b.atyp} ${b.host} ${b.port}` };
  }
  return { verdict: `pending:${reader.stage}`, consumed: reader.consumed, bound: '' };
}

/** The SOCKS5 reply reader target. */
export const socks5Target: FuzzTarget = {
  name: 'socks5',
  covers: 'Socks5ReplyReader: method selection, RFC 1929 status, CONNECT reply, tunnel bytes after it',
  generate(rng) {
    const offered = rng.pick(Object.keys(OFFERS));
    return caseFrom(rng, [validReplies(rng, OFFERS[offered]!)], { offered }, { randomMax: 300, mix: { random: 0.15, valid: 0.25 } });
  },
  run(c: FuzzCase) {
    const a = drive(c, c.cuts);
    if (c.origin.startsWith('valid')) oracle(a.verdict === 'done', () => `a valid exchange ended ${a.verdict}`);
    if (c.cuts.length > 0) {
      const b = drive(c, []);
      oracle(a.verdict === b.verdict && a.bound === b.bound && (a.verdict !== 'done' || a.consumed === b.consumed), () => `chunked and whole runs differ: ${a.verdict} ${a.bound} vs ${b.verdict} ${b.bound}`);
    }
    return a.verdict;
  },
};
