export * from './errors.js';
export * from './patterns.js';
export * from './cipher-state.js';
export * from './symmetric-state.js';
export * from './handshake-state.js';
export * from './transport.js';
export * from './tcomms.js';
export { U16FrameDecoder, encodeU16Frame } from '../framing/u16-frame-decoder.js';
