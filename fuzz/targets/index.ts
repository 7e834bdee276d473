/** Every fuzz target, in the order `npm run fuzz` runs them. */
import type { FuzzTarget } from '../harness.js';
import { dhtJudgeTarget, dhtMessagesTarget } from './dht.js';
import { framingTarget } from './framing.js';
import { identityTarget } from './identity.js';
import { livenessTarget } from './liveness.js';
import { messagingTarget } from './messaging.js';
import { negotiationTarget } from './negotiation.js';
import { noiseHandshakeTarget, noiseTransportTarget } from './noise.js';
import { rpcClientTarget, rpcFramesTarget, rpcServerTarget } from './rpc.js';
import { socks5Target } from './socks5.js';
import { torControlTarget } from './tor-control.js';
import { yamuxTarget } from './yamux.js';

/** The targets: one per decoder or state machine that reads a peer's bytes (add each new one here). */
export const TARGETS: readonly FuzzTarget[] = [
  framingTarget,
  noiseHandshakeTarget,
  noiseTransportTarget,
  yamuxTarget,
  negotiationTarget,
  identityTarget,
  messagingTarget,
  rpcFramesTarget,
  rpcServerTarget,
  rpcClientTarget,
  dhtJudgeTarget,
  dhtMessagesTarget,
  socks5Target,
  torControlTarget,
  livenessTarget,
];
