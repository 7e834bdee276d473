/** Random peers for store tests: random 32-byte keys (stores do not re-validate keys) and their NodeIds. */
import { randomBytes } from 'node:crypto';
import { nodeIdOf, type PublicKey } from '../../core/keys.js';
import { newPeer, type Peer, type PeerSighting } from '../../storage/peer.js';
import { PeerManagerClient, peerManagerLogic, type PeerManagerInput } from '../../actors/peer-manager/index.js';
import { startActor, type TestClock } from './actors.js';

let counter = 0;

export function randomSighting(extra: Partial<PeerSighting> = {}): PeerSighting {
  const publicKey = randomBytes(32) as unknown as PublicKey;
  const n = counter++;
  return {
    publicKey: Uint8Array.from(publicKey) as PublicKey,
    nodeId: nodeIdOf(publicKey),
    addresses: [{ address: `/ip4/10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}/tcp/18141`, source: 'identity' }],
    features: 0,
    userAgent: 'spec',
    supportedProtocols: ['/tari/messaging/0.1.0'],
    ...extra,
  };
}

export function randomPeer(now = 1_000, extra: Partial<PeerSighting> = {}): Peer {
  return newPeer(randomSighting(extra), now);
}

/** A peer-manager actor started on its own (tests), with its promise client. */
export function startPeerManager(input: PeerManagerInput, options: { clock?: TestClock; timeoutMs?: number } = {}): PeerManagerClient {
  return new PeerManagerClient(startActor(peerManagerLogic, { input, ...(options.clock ? { clock: options.clock } : {}) }), options.timeoutMs);
}
