/** A memorynet run's figures as text, as one JSON line, and against issue 21's targets. */
import type { Distribution } from './metrics.js';
import type { MemorynetResult } from './run.js';

/** Issue 21: the whole run under 10 minutes. */
export const TARGET_ELAPSED_MS = 10 * 60_000;
/** Issue 21: peak RSS under 4 GiB. */
export const TARGET_PEAK_RSS_BYTES = 4 * 2 ** 30;

/** The targets a run missed (empty: all met). */
export function targetsMissed(r: MemorynetResult): string[] {
  const missed: string[] = [];
  if (r.discovery.successes < r.discovery.attempts) missed.push(`discovery ${r.discovery.successes}/${r.discovery.attempts}`);
  if (!r.saf.available) missed.push('store-and-forward is not in the stack yet');
  else if (r.saf.roundsDelivered < r.saf.rounds) missed.push(`store-and-forward ${r.saf.roundsDelivered}/${r.saf.rounds} rounds`);
  if (r.propagation.reached < r.propagation.online) missed.push(`propagation ${r.propagation.reached}/${r.propagation.online} nodes`);
  if (r.elapsedMs >= TARGET_ELAPSED_MS) missed.push(`elapsed ${(r.elapsedMs / 1000).toFixed(0)} s`);
  if (r.peakRssBytes >= TARGET_PEAK_RSS_BYTES) missed.push(`peak RSS ${gib(r.peakRssBytes)}`);
  if (r.startup.failed.length > 0) missed.push(`${r.startup.failed.length} members failed to start or to fill their peer store`);
  return missed;
}

/** The result as one JSON line (without the chart series). */
export function jsonLine(r: MemorynetResult): string {
  const { series: _series, ...rest } = r;
  return JSON.stringify(rest);
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const dist = (d: Distribution, unit = '') => (d.count === 0 ? '-' : `min ${d.min}${unit}, p50 ${d.p50}${unit}, p95 ${d.p95}${unit}, max ${d.max}${unit} (mean ${d.mean.toFixed(1)})`);
const pct = (a: number, b: number) => (b === 0 ? '-' : `${((a / b) * 100).toFixed(1)}%`);

/** The text summary. */
export function summary(r: MemorynetResult): string {
  const missed = targetsMissed(r);
  const lines = [
    `memorynet: 1 seed, ${r.nodes} communication nodes, ${r.wallets} wallets (seed ${r.seed}); ${r.environment.node}, ${r.environment.cpus}, load ${r.environment.loadAverage.join(' ')}`,
    `  start-up        nodes started ${s(r.startup.nodesOnlineMs)}, peer stores filled ${s(r.startup.peerStoresMs)}, neighbours connected ${s(r.startup.neighboursMs)}, wallets joined in ${s(r.startup.walletsJoinMs)}${r.startup.failed.length > 0 ? `; FAILED: ${r.startup.failed.slice(0, 5).join('; ')}` : ''}`,
    `  peers known     nodes: ${dist(r.peersKnown)}; the seed: ${r.seedNode.peersKnown}`,
    `  connections     nodes: ${dist(r.connections)}; wallets: ${dist(r.walletConnections)}; the seed: ${r.seedNode.connections}`,
    `  discovery       ${r.discovery.successes}/${r.discovery.attempts} (${pct(r.discovery.successes, r.discovery.attempts)}), p50 ${r.discovery.p50Ms} ms, p95 ${r.discovery.p95Ms} ms, max ${r.discovery.maxMs} ms${r.discovery.failures.length > 0 ? `; failed: ${r.discovery.failures.slice(0, 5).join('; ')}` : ''}`,
    r.saf.available
      ? `  store-and-fwd   ${r.saf.roundsDelivered}/${r.saf.rounds} rounds delivered, ${r.saf.messagesDelivered}/${r.saf.messagesSent} messages (${r.saf.messagesLate} marked late)`
      : '  store-and-fwd   not run: the stack does not store and forward yet (issue 21, saf-store)',
    ...r.saf.detail.map((d, i) => `                  round ${i + 1}: ${d.offline} offline, ${d.delivered}/${d.sent} delivered${Object.keys(d.sendFailures).length > 0 ? `, send failures ${JSON.stringify(d.sendFailures)}` : ''}`),
    ...(r.saf.available ? [`                  DHT drops during the rounds: ${Object.keys(r.saf.dropReasons).length === 0 ? 'none' : Object.entries(r.saf.dropReasons).map(([k, n]) => `${k} ${n}`).join(', ')}`] : []),
    `  propagation     ${r.propagation.reached}/${r.propagation.online} online nodes (${pct(r.propagation.reached, r.propagation.online)}) from ${r.propagation.origin}, last after ${r.propagation.lastMs.toFixed(0)} ms, hops ${r.propagation.hops.map((n, h) => `${h}:${n}`).join(' ')}, ${r.propagation.copies} DHT copies and ${r.propagation.appCopies} re-propagated${r.propagation.missed.length > 0 ? `; missed ${r.propagation.missed.join(' ')}` : ''} (the DHT's propagation alone first reached ${r.propagation.reachedByDht}; 9.6's 4 random forwards are expected to miss ${r.propagation.expectedMissed} on this graph${r.propagation.missedForced.length > 0 ? `; MISSED THOUGH FORWARDED TO: ${r.propagation.missedForced.join(' ')}` : ''})`,
    `  messages        ${r.messages.total} DHT messages received in all; per communication node ${dist(r.messages.perNode)}`,
    `  peak RSS        ${gib(r.peakRssBytes)}`,
    `  elapsed         ${s(r.elapsedMs)}`,
    ...r.standIns.map((x) => `  stand-in        ${x}`),
    missed.length === 0 ? '  targets         all met' : `  targets         MISSED: ${missed.join('; ')}`,
  ];
  return `${lines.join('\n')}\n`;
}
