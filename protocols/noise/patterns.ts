/** Noise handshake patterns (Noise specification section 7). tcomms uses XX and IX; IK proves the machinery. */

/** A handshake token. */
export type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss';

/** Names of the supported patterns. */
export type PatternName = 'XX' | 'IX' | 'IK';

/** A handshake pattern: pre-messages and the message sequence (alternating, initiator first). */
export interface HandshakePattern {
  readonly name: PatternName;
  readonly initiatorPre: readonly Token[];
  readonly responderPre: readonly Token[];
  readonly messages: readonly (readonly Token[])[];
}

export const PATTERNS: Readonly<Record<PatternName, HandshakePattern>> = {
  XX: { name: 'XX', initiatorPre: [], responderPre: [], messages: [['e'], ['e', 'ee', 's', 'es'], ['s', 'se']] },
  IX: { name: 'IX', initiatorPre: [], responderPre: [], messages: [['e', 's'], ['e', 'ee', 'se', 's', 'es']] },
  IK: { name: 'IK', initiatorPre: [], responderPre: ['s'], messages: [['e', 'es', 's', 'ss'], ['e', 'ee', 'se']] },
};

/** The full protocol name, e.g. `Noise_XX_25519_ChaChaPoly_BLAKE2s`. */
export function protocolName(pattern: PatternName): string {
  return `Noise_${pattern}_25519_ChaChaPoly_BLAKE2s`;
}

/** Parse a protocol name of the supported suite; undefined for anything else. */
export function patternOfProtocolName(name: string): PatternName | undefined {
  const m = /^Noise_(XX|IX|IK)_25519_ChaChaPoly_BLAKE2s$/.exec(name);
  return m === null ? undefined : (m[1] as PatternName);
}

const DH_TOKENS: ReadonlySet<Token> = new Set(['ee', 'es', 'se', 'ss']);

/**
 * The exact length of each handshake message of `pattern` given each message's payload length:
 * 32 per `e`, 32 (+16 once a key exists) per `s`, and the payload (+16 once a key exists).
 */
export function handshakeMessageLengths(pattern: PatternName, payloadLength = 0): number[] {
  let hasKey = false;
  return PATTERNS[pattern].messages.map((tokens) => {
    let len = 0;
    for (const t of tokens) {
      if (t === 'e') len += 32;
      else if (t === 's') len += hasKey ? 48 : 32;
      else if (DH_TOKENS.has(t)) hasKey = true;
    }
    return len + payloadLength + (hasKey ? 16 : 0);
  });
}
