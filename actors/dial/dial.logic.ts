/**
 * A dial's real attempt: the transport that dials the address connects, and the connection is
 * upgraded (wire byte, Noise with the dialed-key check, yamux, identity), all under one deadline:
 * the attempt timeout folded with the actor's signal (a cancelled dial aborts its attempt).
 */
import { fromPromise } from 'xstate';
import { multiaddr } from '@multiformats/multiaddr';
import { upgradeOutbound, type PeerConnection } from '../../channels/upgrade.js';
import { DialDeadline } from '../../transports/deadline.js';
import { DialTimeout, UnsupportedAddress } from '../../transports/errors.js';
import { dialMachine, type AttemptInput } from './dial.machine.js';

/** One attempt at one address (see the module comment). A connection made after a cancel is closed. */
export const attemptAddress = fromPromise<PeerConnection, AttemptInput>(async ({ input, signal }) => {
  const ma = multiaddr(input.address);
  const transport = input.transports.find((t) => t.canDial(ma));
  if (!transport) throw new UnsupportedAddress(input.address, 'dialer', 'no configured transport dials it');
  const deadline = new DialDeadline(input.address, { signal }, input.timeoutMs);
  try {
    const conn = await transport.dial(ma, { signal: deadline.signal, timeoutMs: input.timeoutMs });
    try {
      const connection = await upgradeOutbound(conn.stream, input.upgrade, { signal: deadline.signal, dialedPublicKey: input.publicKey });
      // Cancelled meanwhile: nobody takes the connection.
      if (signal.aborted) connection.muxer.abort();
      return connection;
    } catch (err) {
      conn.stream.destroy();
      if (deadline.reason instanceof DialTimeout) throw deadline.reason;
      throw err;
    }
  } finally {
    deadline.done();
  }
});

/** The dial machine with its real attempt. */
export const dialLogic = dialMachine.provide({ actors: { attemptAddress } });
