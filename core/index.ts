export * from './errors.js';
export * from './bytes.js';
export * from './keys.js';
export * from './ed25519-point.js';
export * from './address.js';
