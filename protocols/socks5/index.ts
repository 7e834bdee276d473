export * from './errors.js';
export * from './reply.js';
