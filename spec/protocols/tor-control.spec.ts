import { expect } from 'chai';
import fc from 'fast-check';
import { TcommsError } from '../../core/errors.js';
import {
  addOnionCommand,
  commandLine,
  ControlReplyParser,
  keyword,
  parseArguments,
  quoted,
  safeCookieClientHash,
  safeCookieServerHash,
  splitKeyValue,
  TorCommandInvalid,
  TorControlProtocolError,
  type ControlReply,
} from '../../protocols/tor-control/index.js';
import { splitAt } from '../support/streams.js';

const SAMPLE = [
  '250-PROTOCOLINFO 1\r\n',
  '250-AUTH METHODS=COOKIE,SAFECOOKIE,HASHEDPASSWORD COOKIEFILE="/tmp/a \\"b\\"/control_auth_cookie"\r\n',
  '250-VERSION Tor="0.4.9.11"\r\n',
  '250 OK\r\n',
  '650 HS_DESC UPLOADED abc UNKNOWN hsdir\r\n',
  '250+config-text=\r\n',
  'ControlPort auto\r\n',
  '..leading dot\r\n',
  '.\r\n',
  '250 OK\r\n',
  '550 Unrecognized command "FOO"\r\n',
].join('');

function parseAll(bytes: Uint8Array, cuts: number[] = []): ControlReply[] {
  const parser = new ControlReplyParser();
  return splitAt(bytes, cuts).flatMap((piece) => parser.push(piece));
}

describe('Tor control reply parser', () => {
  it('parses mid, data and end lines, events, and error replies', () => {
    const replies = parseAll(Buffer.from(SAMPLE));
    expect(replies.map((r) => r.status)).to.deep.equal([250, 650, 250, 550]);
    expect(replies[0]!.lines.map((l) => l.separator)).to.deep.equal(['-', '-', '-', ' ']);
    const auth = parseArguments(replies[0]!.lines[1]!.text);
    expect(auth.positional).to.deep.equal(['AUTH']);
    expect(auth.keywords.get('METHODS')).to.equal('COOKIE,SAFECOOKIE,HASHEDPASSWORD');
    expect(auth.keywords.get('COOKIEFILE')).to.equal('/tmp/a "b"/control_auth_cookie');
    expect(replies[2]!.lines[0]).to.deep.equal({ separator: '+', text: 'config-text=', data: 'ControlPort auto\n.leading dot' });
    expect(replies[3]!.lines[0]!.text).to.equal('Unrecognized command "FOO"');
  });

  it('gives the same replies under any chunking', () => {
    const bytes = Buffer.from(SAMPLE);
    const whole = parseAll(bytes);
    fc.assert(
      fc.property(fc.array(fc.nat(bytes.length), { maxLength: 12 }), (cuts) => JSON.stringify(parseAll(bytes, cuts)) === JSON.stringify(whole)),
      { numRuns: 1000 },
    );
  });

  it('rejects malformed replies with TorControlProtocolError', () => {
    const bad = [
      '250 OK\n', // LF without CR
      '25 OK\r\n',
      '250xOK\r\n',
      '250-a\r\n251 b\r\n', // status changes inside a reply
      '700 nope\r\n',
      '250 a\u0001b\r\n',
      '\r\n',
    ];
    for (const text of bad) {
      const parser = new ControlReplyParser();
      expect(() => parser.push(Buffer.from(text)), JSON.stringify(text)).to.throw(TorControlProtocolError);
      expect(() => parser.push(Buffer.from('250 OK\r\n')), 'errors stick').to.throw(TorControlProtocolError);
    }
  });

  it('bounds line length, line count and reply size', () => {
    expect(() => new ControlReplyParser({ maxLineBytes: 100 }).push(Buffer.from('250 ' + 'a'.repeat(200)))).to.throw(/longer than 100/);
    expect(() => new ControlReplyParser({ maxLines: 10 }).push(Buffer.from('250-x\r\n'.repeat(11)))).to.throw(/more than 10 lines/);
    expect(() => new ControlReplyParser({ maxReplyBytes: 1000 }).push(Buffer.from('250+d=\r\n' + 'x\r\n'.repeat(400)))).to.throw(/longer than 1000/);
  });

  it('random and truncated input only ever raises typed errors', () => {
    const lineArb = fc.tuple(fc.constantFrom('250', '650', '550', '251', '999', 'abc', '25'), fc.constantFrom('-', '+', ' ', 'x', ''), fc.string({ maxLength: 20 }), fc.constantFrom('\r\n', '\n', '', '\r'));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.array(lineArb, { maxLength: 8 }).map((ls) => Buffer.from(ls.map((l) => l.join('')).join('')))), (bytes) => {
        try {
          parseAll(bytes, [3, 9, 27]);
        } catch (err) {
          if (!(err instanceof TcommsError)) throw err;
        }
      }),
      { numRuns: 5000 },
    );
    const prefixParser = Buffer.from(SAMPLE);
    for (let n = 0; n < prefixParser.length; n++) parseAll(prefixParser.subarray(0, n)); // truncation never throws
  });
});

describe('Tor control arguments and commands', () => {
  it('reads QuotedStrings with C escapes and key=value lines', () => {
    expect(parseArguments('A B=1 C="x y\\\\z\\n\\101"').keywords.get('C')).to.equal('x y\\z\nA');
    expect(splitKeyValue('ServiceID=abc')).to.deep.equal(['ServiceID', 'abc']);
    expect(splitKeyValue('SocksPort')).to.deep.equal(['SocksPort', undefined]);
    expect(splitKeyValue('Nick="a b"')).to.deep.equal(['Nick', 'a b']);
    expect(() => parseArguments('A="open')).to.throw(TorControlProtocolError);
    expect(() => parseArguments('A="x"y')).to.throw(TorControlProtocolError);
    expect(() => parseArguments('A="\\q"')).to.throw(TorControlProtocolError);
  });

  it('refuses values that could inject a command', () => {
    expect(() => keyword('version\r\nSIGNAL HALT')).to.throw(TorCommandInvalid);
    expect(() => quoted('pw\r\nSIGNAL HALT')).to.throw(TorCommandInvalid);
    expect(() => commandLine('GETINFO', 'a\nb')).to.throw(TorCommandInvalid);
    expect(quoted('a"b\\c')).to.equal('"a\\"b\\\\c"');
    expect(() => addOnionCommand({ key: { kind: 'saved', key: 'ED25519-V3:abc\r\nX' }, ports: [{ virtualPort: 1, target: '1' }] })).to.throw(TorCommandInvalid);
    expect(() => addOnionCommand({ key: { kind: 'new' }, ports: [{ virtualPort: 0, target: '1' }] })).to.throw(TorCommandInvalid);
    expect(() => addOnionCommand({ key: { kind: 'new' }, ports: [{ virtualPort: 80, target: '127.0.0.1:1 Flags=Detach' }] })).to.throw(TorCommandInvalid);
    expect(addOnionCommand({ key: { kind: 'new' }, flags: ['DiscardPK'], ports: [{ virtualPort: 80, target: '127.0.0.1:8080' }] })).to.equal(
      'ADD_ONION NEW:ED25519-V3 Flags=DiscardPK Port=80,127.0.0.1:8080\r\n',
    );
  });

  it('computes the SAFECOOKIE hashes with the spec keys', () => {
    // Two different HMAC keys: the hashes differ, and each depends on every input.
    const cookie = Buffer.alloc(32, 1);
    const a = Buffer.alloc(32, 2);
    const b = Buffer.alloc(32, 3);
    expect(safeCookieServerHash(cookie, a, b).equals(safeCookieClientHash(cookie, a, b))).to.equal(false);
    expect(safeCookieServerHash(cookie, a, b).equals(safeCookieServerHash(cookie, b, a))).to.equal(false);
    expect(safeCookieServerHash(cookie, a, b)).to.have.length(32);
  });
});
