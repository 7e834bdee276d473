/**
 * Builders of control commands (control-spec section 3). Every value is checked so that no
 * caller-supplied string can end a command early or inject another one (CR, LF, NUL).
 */
import { TorCommandInvalid } from './errors.js';

const KEYWORD = /^[A-Za-z0-9_\-/.:]+$/;

/** Checks a bare argument (a keyword, an event name, a config key). */
export function keyword(value: string, what = 'argument'): string {
  if (!KEYWORD.test(value)) throw new TorCommandInvalid(`${what} ${JSON.stringify(value.slice(0, 80))} is not a valid control-protocol keyword`);
  return value;
}

/** A QuotedString: `"` and `\` escaped; CR, LF and NUL refused. */
export function quoted(value: string): string {
  if (/[\r\n\0]/.test(value)) throw new TorCommandInvalid('a quoted control-protocol value cannot contain CR, LF or NUL');
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** One command line, CRLF-terminated. */
export function commandLine(...parts: string[]): string {
  const line = parts.join(' ');
  if (/[\r\n\0]/.test(line)) throw new TorCommandInvalid('a control command cannot contain CR, LF or NUL');
  return `${line}\r\n`;
}

/** A port mapping of ADD_ONION: the onion's virtual port to a local target (`host:port` or a port). */
export interface OnionPortMapping {
  virtualPort: number;
  target: string;
}

/** ADD_ONION key: a new ED25519-V3 key, or a saved one (`ED25519-V3:<base64>`). */
export type OnionKey = { kind: 'new' } | { kind: 'saved'; key: string };

/** The parameters of ADD_ONION. */
export interface AddOnionCommand {
  key: OnionKey;
  ports: OnionPortMapping[];
  /** `DiscardPK`, `Detach`, `NonAnonymous`, `MaxStreamsCloseCircuit`. */
  flags?: string[];
  maxStreams?: number;
}

function port(p: number, what: string): number {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new TorCommandInvalid(`${what} ${p} is not in 1..65535`);
  return p;
}

/** The ADD_ONION command line; refuses values that could inject a command. */
export function addOnionCommand(cmd: AddOnionCommand): string {
  if (cmd.ports.length === 0) throw new TorCommandInvalid('ADD_ONION needs at least one port mapping');
  let key: string;
  if (cmd.key.kind === 'new') key = 'NEW:ED25519-V3';
  else {
    if (!/^ED25519-V3:[A-Za-z0-9+/]{86}==$/.test(cmd.key.key)) throw new TorCommandInvalid('a saved onion key is ED25519-V3:<base64 of 64 bytes>');
    key = cmd.key.key;
  }
  const parts = ['ADD_ONION', key];
  if (cmd.flags?.length) parts.push(`Flags=${cmd.flags.map((f) => keyword(f, 'flag')).join(',')}`);
  if (cmd.maxStreams !== undefined) {
    if (!Number.isInteger(cmd.maxStreams) || cmd.maxStreams < 0 || cmd.maxStreams > 65535) throw new TorCommandInvalid('MaxStreams is 0..65535');
    parts.push(`MaxStreams=${cmd.maxStreams}`);
  }
  for (const m of cmd.ports) {
    const target = m.target;
    if (!/^(\d{1,5}|[A-Za-z0-9.\-]+:\d{1,5}|\[[0-9a-fA-F:]+\]:\d{1,5}|unix:\S+)$/.test(target)) throw new TorCommandInvalid(`bad ADD_ONION target ${JSON.stringify(target)}`);
    parts.push(`Port=${port(m.virtualPort, 'virtual port')},${target}`);
  }
  return commandLine(...parts);
}
