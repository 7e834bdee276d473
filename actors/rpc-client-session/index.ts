export * from './rpc-client-session.events.js';
export * from './rpc-client-session.machine.js';
export * from './rpc-client-session.logic.js';
export * from './client-link.js';
