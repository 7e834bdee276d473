export * from './rpc-session.events.js';
export * from './rpc-session.machine.js';
export * from './rpc-session.logic.js';
export * from './server-link.js';
