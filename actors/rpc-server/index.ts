export * from './rpc-server.events.js';
export * from './rpc-server.machine.js';
export * from './rpc-server.logic.js';
export * from './services.js';
