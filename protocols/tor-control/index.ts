export * from './errors.js';
export * from './reply.js';
export * from './keywords.js';
export * from './commands.js';
export * from './safecookie.js';
