export * from './errors.js';
export * from './frame.js';
export * from './negotiation.js';
