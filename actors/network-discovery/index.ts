export * from './network-discovery-config.js';
export * from './network-discovery.events.js';
export * from './network-discovery.machine.js';
export * from './network-discovery.logic.js';
export * from './peer-sync-client.js';
export * from './synced-claims.js';
