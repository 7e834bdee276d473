/**
 * Reply arguments (control-spec section 2.1/3): positional words and `KEY=VALUE` pairs where a
 * value is a bare word or a QuotedString with C escapes. Parsed strictly; a malformed argument
 * list is a {@link TorControlProtocolError}.
 */
import { TorControlProtocolError } from './errors.js';

/** Positional and KEY=VALUE arguments of a reply line. */
export interface ParsedArguments {
  positional: string[];
  keywords: Map<string, string>;
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'" };

/** Reads a QuotedString starting at `text[at] === '"'`; returns the value and the index after it. */
export function readQuoted(text: string, at: number): [string, number] {
  let out = '';
  let i = at + 1;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '"') return [out, i + 1];
    if (ch === '\\') {
      const next = text[i + 1];
      if (next === undefined) break;
      if (/[0-7]/.test(next)) {
        const oct = /^[0-7]{1,3}/.exec(text.slice(i + 1))![0];
        const code = parseInt(oct, 8);
        if (code > 255) throw new TorControlProtocolError('octal escape above 255');
        out += String.fromCharCode(code);
        i += 1 + oct.length;
        continue;
      }
      const mapped = ESCAPES[next];
      if (mapped === undefined) throw new TorControlProtocolError(`unknown escape \\${next}`);
      out += mapped;
      i += 2;
      continue;
    }
    out += ch;
    i++;
  }
  throw new TorControlProtocolError('unterminated quoted string');
}

/** Splits `WORD KEY=VALUE KEY="quoted value"` into positional words and keywords. */
export function parseArguments(text: string): ParsedArguments {
  const positional: string[] = [];
  const keywords = new Map<string, string>();
  let i = 0;
  while (i < text.length) {
    if (text[i] === ' ') {
      i++;
      continue;
    }
    const eq = /^([A-Za-z0-9_\-.:/]+)=/.exec(text.slice(i));
    if (eq) {
      const key = eq[1]!;
      i += eq[0].length;
      let value: string;
      if (text[i] === '"') [value, i] = readQuoted(text, i);
      else {
        const end = text.indexOf(' ', i);
        value = text.slice(i, end < 0 ? text.length : end);
        i = end < 0 ? text.length : end;
      }
      if (i < text.length && text[i] !== ' ') throw new TorControlProtocolError('text after a quoted value');
      keywords.set(key, value);
      continue;
    }
    if (text[i] === '"') {
      const [value, next] = readQuoted(text, i);
      positional.push(value);
      i = next;
      continue;
    }
    const end = text.indexOf(' ', i);
    positional.push(text.slice(i, end < 0 ? text.length : end));
    i = end < 0 ? text.length : end;
  }
  return { positional, keywords };
}

/** Splits a `key=value` reply line (GETINFO, GETCONF); a bare key means "default / no value". */
export function splitKeyValue(text: string): [string, string | undefined] {
  const eq = text.indexOf('=');
  if (eq < 0) return [text, undefined];
  const key = text.slice(0, eq);
  const raw = text.slice(eq + 1);
  if (raw.startsWith('"')) {
    const [value, end] = readQuoted(raw, 0);
    if (end !== raw.length) throw new TorControlProtocolError('text after a quoted value');
    return [key, value];
  }
  return [key, raw];
}
