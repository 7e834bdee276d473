export * from './errors.js';
export * from './signature.js';
export * from './frame.js';
export * from './message.js';
