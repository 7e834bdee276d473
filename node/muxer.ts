/**
 * `tcomms/muxer`: yamux (PROTOCOL.md section 3) over any Duplex, and substream protocol
 * negotiation (section 4): `YamuxMuxer` and its `YamuxStream`s, `negotiateOutbound` and
 * `negotiateInbound`, and the memory budget a muxer charges what a peer makes it hold.
 */
export { YamuxMuxer, type YamuxMuxerInit, type YamuxMuxerEvents } from '../channels/yamux/muxer.js';
export { YamuxStream, type StreamDirection } from '../channels/yamux/stream.js';
export { negotiateInbound, negotiateOutbound, NEGOTIATION_TIMEOUT_MS, type NegotiateOptions } from '../channels/negotiate.js';
export { DEFAULT_YAMUX_CONFIG, type YamuxConfig } from '../protocols/yamux/config.js';
export { MemoryBudget, DEFAULT_CONNECTION_MEMORY, DEFAULT_NODE_MEMORY } from '../core/budget.js';
