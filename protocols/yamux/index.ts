export * from './config.js';
export * from './errors.js';
export * from './frame.js';
export * from './session.js';
