/**
 * `--report FILE.html`: one self-contained page (inline CSS and SVG, no script, nothing fetched)
 * with the run's figures and three charts: propagation coverage over time, the discovery latency
 * histogram, connections per node; and the RSS over the run.
 */
import { counts, histogram } from './metrics.js';
import type { MemorynetResult } from './run.js';
import { summary, targetsMissed } from './summary.js';

const W = 640;
const H = 260;
const PAD = { left: 56, right: 16, top: 16, bottom: 40 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (v: number) => (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : Number(v.toFixed(1)).toString());

interface Axes {
  x: (v: number) => number;
  y: (v: number) => number;
  svg: string;
}

/** Axes with ticks for [0, xMax] x [0, yMax]. */
function axes(xMax: number, yMax: number, xLabel: string, yLabel: string): Axes {
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const xm = xMax > 0 ? xMax : 1;
  const ym = yMax > 0 ? yMax : 1;
  const x = (v: number) => PAD.left + (v / xm) * iw;
  const y = (v: number) => PAD.top + ih - (v / ym) * ih;
  const parts = [`<line x1="${PAD.left}" y1="${PAD.top + ih}" x2="${PAD.left + iw}" y2="${PAD.top + ih}" class="axis"/>`, `<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${PAD.top + ih}" class="axis"/>`];
  for (let i = 0; i <= 4; i++) {
    const xv = (xm * i) / 4;
    const yv = (ym * i) / 4;
    parts.push(`<text x="${x(xv)}" y="${PAD.top + ih + 16}" text-anchor="middle">${num(xv)}</text>`);
    parts.push(`<text x="${PAD.left - 6}" y="${y(yv) + 4}" text-anchor="end">${num(yv)}</text>`);
    if (i > 0) parts.push(`<line x1="${PAD.left}" y1="${y(yv)}" x2="${PAD.left + iw}" y2="${y(yv)}" class="grid"/>`);
  }
  parts.push(`<text x="${PAD.left + iw / 2}" y="${H - 6}" text-anchor="middle">${esc(xLabel)}</text>`);
  parts.push(`<text x="14" y="${PAD.top + ih / 2}" text-anchor="middle" transform="rotate(-90 14 ${PAD.top + ih / 2})">${esc(yLabel)}</text>`);
  return { x, y, svg: parts.join('') };
}

const svg = (title: string, body: string) => `<figure><figcaption>${esc(title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">${body}</svg></figure>`;

/** Nodes reached over time (a step line), with the number of online nodes as a dashed line. */
export function coverageChart(coverage: ReadonlyArray<readonly [number, number]>, online: number): string {
  const xMax = coverage.length > 0 ? coverage[coverage.length - 1]![0] : 1;
  const a = axes(xMax, online, 'ms since the send', 'nodes reached');
  let path = `M${a.x(0)},${a.y(0)}`;
  let last = 0;
  for (const [t, n] of coverage) {
    path += ` L${a.x(t)},${a.y(last)} L${a.x(t)},${a.y(n)}`;
    last = n;
  }
  const target = `<line x1="${a.x(0)}" y1="${a.y(online)}" x2="${a.x(xMax)}" y2="${a.y(online)}" class="target"/>`;
  return svg(`Propagation coverage over time (${last}/${online} online nodes)`, `${a.svg}${target}<path d="${path}" class="line"/>`);
}

/** Bars over `buckets` (each `label` under its bar). */
function bars(title: string, xLabel: string, yLabel: string, buckets: ReadonlyArray<{ label: string; count: number }>): string {
  const yMax = Math.max(1, ...buckets.map((b) => b.count));
  const a = axes(buckets.length, yMax, '', yLabel);
  const bw = (W - PAD.left - PAD.right) / Math.max(1, buckets.length);
  const every = Math.max(1, Math.ceil(buckets.length / 12));
  const rects = buckets
    .map((b, i) => {
      const x = a.x(i);
      const label = i % every === 0 ? `<text x="${x + bw / 2}" y="${H - PAD.bottom + 16}" text-anchor="middle">${esc(b.label)}</text>` : '';
      return `<rect x="${x + 1}" y="${a.y(b.count)}" width="${Math.max(1, bw - 2)}" height="${a.y(0) - a.y(b.count)}" class="bar"><title>${esc(b.label)}: ${b.count}</title></rect>${label}`;
    })
    .join('');
  // The axes' numeric x ticks mean nothing for bars: keep the lines, the y ticks and the labels.
  const axesSvg = a.svg.replace(/<text x="[\d.]+" y="[\d.]+" text-anchor="middle">[\d,.]+<\/text>/g, '');
  return svg(title, `${axesSvg}${rects}<text x="${W / 2}" y="${H - 6}" text-anchor="middle">${esc(xLabel)}</text>`);
}

/** The discovery latency histogram (20 buckets). */
export function discoveryChart(latenciesMs: readonly number[]): string {
  const h = histogram(latenciesMs, 20);
  return bars(`Discovery latency (${latenciesMs.length} found)`, 'latency (ms, bucket start)', 'discoveries', h.map((b) => ({ label: num(b.from), count: b.count })));
}

/** How many nodes hold each number of connections. */
export function connectionsChart(connections: readonly number[]): string {
  const c = counts(connections);
  return bars(`Connections per communication node (${connections.length} nodes)`, 'connections', 'nodes', c.map((b) => ({ label: String(b.value), count: b.count })));
}

/** The RSS over the run. */
export function rssChart(samples: ReadonlyArray<{ atMs: number; rssBytes: number }>): string {
  const xMax = samples.length > 0 ? samples[samples.length - 1]!.atMs / 1000 : 1;
  const yMax = Math.max(...samples.map((s) => s.rssBytes / 2 ** 20), 1);
  const a = axes(xMax, yMax, 's since the start', 'RSS (MiB)');
  const path = samples.map((s, i) => `${i === 0 ? 'M' : 'L'}${a.x(s.atMs / 1000)},${a.y(s.rssBytes / 2 ** 20)}`).join(' ');
  return svg('Resident set size over the run', `${a.svg}<path d="${path}" class="line"/>`);
}

/** The whole page. */
export function htmlReport(r: MemorynetResult): string {
  const missed = targetsMissed(r);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>memorynet: ${r.nodes} nodes, ${r.wallets} wallets</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:980px;color:#222}
pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px}
figure{display:inline-block;margin:1em 1em 0 0}figcaption{font-weight:600;margin-bottom:.3em}
svg text{font-size:11px;fill:#444}.axis{stroke:#444}.grid{stroke:#ddd}
.line{fill:none;stroke:#1565c0;stroke-width:2}.target{stroke:#c62828;stroke-dasharray:4 4}.bar{fill:#1565c0}
.ok{color:#2e7d32}.missed{color:#c62828}
</style></head><body>
<h1>memorynet: 1 seed, ${r.nodes} nodes, ${r.wallets} wallets</h1>
<p class="${missed.length === 0 ? 'ok' : 'missed'}">${missed.length === 0 ? 'Every target of issue 21 met.' : `Targets missed: ${esc(missed.join('; '))}`}</p>
${coverageChart(r.series.coverage, r.propagation.online)}
${discoveryChart(r.series.discoveryLatenciesMs)}
${connectionsChart(r.series.connections)}
${rssChart(r.series.rss)}
<h2>Summary</h2>
<pre>${esc(summary(r))}</pre>
</body></html>
`;
}
