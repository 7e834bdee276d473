/**
 * `tcomms/transports`: the transports a node dials and listens with, addressed by multiaddr
 * (TCP, memory, SOCKS5, TCP-with-Tor, Tor with onion-service listeners), their interface and
 * typed errors. A node takes them with `CommsBuilder.withTransport`.
 */
export * from '../transports/index.js';
