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

/** The handshake patterns supported (XX, IX, IK), as message token lists. */
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

/**
 * Length of one handshake message: 32 per `e`, 32 (+16 once a key exists) per `s`, and the
 * payload (+16 once a key exists). Returns the length and whether a key exists afterwards.
 */
export function messageLength(tokens: readonly Token[], hasKeyAtStart: boolean, payloadLength: number): { length: number; hasKey: boolean } {
  let hasKey = hasKeyAtStart;
  let length = 0;
  for (const t of tokens) {
    if (t === 'e') length += 32;
    else if (t === 's') length += hasKey ? 48 : 32;
    else hasKey = true;
  }
  return { length: length + payloadLength + (hasKey ? 16 : 0), hasKey };
}

/** The exact length of each handshake message of `pattern` given each message's payload length. */
export function handshakeMessageLengths(pattern: PatternName, payloadLength = 0): number[] {
  let hasKey = false;
  return PATTERNS[pattern].messages.map((tokens) => {
    const m = messageLength(tokens, hasKey, payloadLength);
    hasKey = m.hasKey;
    return m.length;
  });
}
