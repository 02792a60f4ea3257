/**
 * GET /status: a server-rendered HTML page for people (no build step, no script, no external
 * asset; the Content-Security-Policy forbids loading anything). Queue depth, workers with
 * their last heartbeat, recent composes newest first with paging, per-image progress, links to
 * each compose's logs and to its Koji task and build. Every value from the database or a
 * request goes through esc(); URLs are built from validated parts only.
 */
import type { FastifyPluginAsync, FastifySchema } from 'fastify';
import type { Pool } from '../db/index.js';
import { queueDepth } from '../queue/index.js';
import { API_BASE, composeActivity, composeStatus, loadCompose, type ComposeView } from '../compose/index.js';
import type { ComposeStatus, ImageStatus } from '../generated/compose-status.schema.js';
import { KILN_VERSION } from '../version.js';

/** What the page shows of a worker running in this process. */
export interface LocalWorkerInfo {
  readonly name: string;
  readonly state: string;
  readonly runningJobs: readonly unknown[];
}

export interface StatusPageOptions {
  pool: Pool;
  /** The workers of this process (read at each request: they may start after the app is built). */
  localWorkers?: () => readonly LocalWorkerInfo[];
}

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 100;

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** Escapes text for HTML element content and quoted attribute values. */
export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/**
 * The Koji web UI for a hub URL: Koji serves the hub at `…/kojihub` and the web UI at `…/koji`
 * on the same host (https://koji.example.com/kojihub → https://koji.example.com/koji). A hub
 * at another path gets `<origin>/koji`. Undefined for anything but http(s).
 */
export function kojiWebUrl(server: string): string | undefined {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  const path = url.pathname.replace(/\/+$/, '');
  const base = path.endsWith('/kojihub') ? path.slice(0, -'/kojihub'.length) : '';
  return `${url.origin}${base}/koji`;
}

/** Percent done of an image (0–100): finished images are full, running ones follow their progress. */
export function imagePercent(image: ImageStatus): number {
  if (image.status === 'success') return 100;
  const p = image.progress;
  if (!p || !(p.total > 0)) return 0;
  return Math.min(100, Math.max(0, Math.round((p.done / p.total) * 1000) / 10));
}

function ago(date: Date | null | undefined, now: number): string {
  if (!date) return '<span class="muted">never</span>';
  const s = Math.max(0, Math.round((now - date.getTime()) / 1000));
  const text = s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : s < 172800 ? `${Math.round(s / 3600)} h ago` : `${Math.round(s / 86400)} d ago`;
  return `<time datetime="${esc(date.toISOString())}" title="${esc(date.toISOString())}">${esc(text)}</time>`;
}

interface WorkerRow {
  name: string;
  kind: string;
  detail: string;
  running: number;
  lastSeen: Date | null;
}

async function loadWorkers(pool: Pool, local: readonly LocalWorkerInfo[]): Promise<WorkerRow[]> {
  const [holding, remote] = await Promise.all([
    pool.query<{ worker: string; n: number; heartbeat: Date | null }>(
      `SELECT worker, count(*)::int AS n, max(heartbeat_at) AS heartbeat FROM kiln_jobs
        WHERE state = 'running' AND worker IS NOT NULL GROUP BY worker ORDER BY worker LIMIT 500`,
    ),
    // one row per name: each process start registers anew, the newest registration counts
    pool.query<{ id: string; name: string; principal: string | null; arches: string[]; types: string[]; channels: string[]; last_seen_at: Date }>(
      `SELECT DISTINCT ON (name) id, name, principal, arches, types, channels, last_seen_at FROM kiln_workers
        ORDER BY name, last_seen_at DESC LIMIT 500`,
    ),
  ]);
  const jobs = new Map(holding.rows.map((r) => [r.worker, r]));
  const rows: WorkerRow[] = [];
  const shown = new Set<string>();
  for (const w of local) {
    shown.add(w.name);
    rows.push({ name: w.name, kind: 'local (this process)', detail: w.state, running: w.runningJobs.length, lastSeen: jobs.get(w.name)?.heartbeat ?? null });
  }
  for (const w of remote.rows) {
    const held = jobs.get(w.name) ?? jobs.get(w.id);
    shown.add(w.name);
    shown.add(w.id);
    const detail = `${w.types.join(', ')} · ${w.arches.join(', ')} · ${w.channels.join(', ')}${w.principal ? ` · as ${w.principal}` : ''}`;
    rows.push({ name: w.name, kind: 'remote (worker API)', detail, running: held?.n ?? 0, lastSeen: w.last_seen_at });
  }
  // `kiln worker` processes on the database register nowhere: they show while they hold jobs
  for (const r of holding.rows) {
    if (!shown.has(r.worker)) rows.push({ name: r.worker, kind: 'local (database)', detail: 'holding jobs', running: r.n, lastSeen: r.heartbeat });
  }
  return rows;
}

async function loadComposes(pool: Pool, limit: number, offset: number): Promise<{ items: { view: ComposeView; status: ComposeStatus }[]; total: number }> {
  const [page, count] = await Promise.all([
    pool.query<{ id: string }>('SELECT id FROM kiln_composes ORDER BY seq DESC LIMIT $1 OFFSET $2', [limit, offset]),
    pool.query<{ n: number }>('SELECT count(*)::int AS n FROM kiln_composes'),
  ]);
  const items = await Promise.all(
    page.rows.map(async (r) => {
      const view = await loadCompose(pool, r.id);
      return { view, status: composeStatus(view) };
    }),
  );
  return { items, total: count.rows[0].n };
}

const CSS = `
:root { color-scheme: light dark; --ok: #2e7d32; --bad: #c62828; --run: #1565c0; --muted: #777; --line: #8884; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; }
h1 { font-size: 1.4rem; margin: 0 0 .2rem; } h2 { font-size: 1.1rem; margin: 1.6rem 0 .4rem; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 12px; } .muted { color: var(--muted); }
.status { font-weight: 600; } .status-success { color: var(--ok); } .status-failure { color: var(--bad); } .status-building, .status-uploading, .status-importing, .status-refunding { color: var(--run); }
.image { display: grid; grid-template-columns: 12rem 6rem 10rem auto; gap: .5rem; align-items: center; margin: .1rem 0; }
.bar { width: 10rem; height: .7rem; background: var(--line); border-radius: .35rem; overflow: hidden; }
.fill { height: 100%; background: var(--run); } .image.success .fill { background: var(--ok); } .image.failure .fill { background: var(--bad); }
.error { color: var(--bad); font-size: 12px; grid-column: 1 / -1; }
nav.paging { margin-top: .6rem; display: flex; gap: 1rem; } td.links { white-space: nowrap; }
`;

function statusClass(status: string): string {
  return /^[a-z]+$/.test(status) ? `status status-${status}` : 'status';
}

function renderQueue(rows: Awaited<ReturnType<typeof queueDepth>>): string {
  const byKey = new Map<string, { type: string; channel: string; arch: string; waiting: number; ready: number; running: number }>();
  for (const r of rows) {
    const key = JSON.stringify([r.type, r.channel, r.arch]);
    const entry = byKey.get(key) ?? { type: r.type, channel: r.channel, arch: r.arch, waiting: 0, ready: 0, running: 0 };
    if (r.state === 'waiting' || r.state === 'ready' || r.state === 'running') entry[r.state] += r.count;
    byKey.set(key, entry);
  }
  if (!byKey.size) return '<p class="muted" id="queue-empty">The queue is empty.</p>';
  const body = [...byKey.values()]
    .map((e) => `<tr><td>${esc(e.type)}</td><td>${esc(e.channel)}</td><td>${esc(e.arch)}</td><td class="num">${e.waiting}</td><td class="num">${e.ready}</td><td class="num">${e.running}</td></tr>`)
    .join('\n');
  return `<table id="queue"><thead><tr><th>Type</th><th>Channel</th><th>Arch</th><th class="num">Waiting</th><th class="num">Ready</th><th class="num">Running</th></tr></thead>\n<tbody>\n${body}\n</tbody></table>`;
}

function renderWorkers(rows: WorkerRow[], now: number): string {
  if (!rows.length) return '<p class="muted" id="workers-empty">No workers known.</p>';
  const body = rows
    .map((w) => `<tr><td>${esc(w.name)}</td><td>${esc(w.kind)}</td><td>${esc(w.detail)}</td><td class="num">${w.running}</td><td>${ago(w.lastSeen, now)}</td></tr>`)
    .join('\n');
  return `<table id="workers"><thead><tr><th>Worker</th><th>Kind</th><th>Details</th><th class="num">Running</th><th>Last heartbeat</th></tr></thead>\n<tbody>\n${body}\n</tbody></table>`;
}

function renderImage(view: ComposeView, i: number, image: ImageStatus): string {
  const build = view.images[i];
  const pct = imagePercent(image);
  const counts = image.progress ? `${image.progress.done}/${image.progress.total}` : '';
  const status = image.status;
  const error = image.error ? `<div class="error">${esc(image.error.reason)}</div>` : '';
  return (
    `<div class="image ${esc(status)}"><span>${esc(build?.image_type ?? '')} · ${esc(build?.arch ?? '')}</span>` +
    `<span class="${statusClass(status)}">${esc(status)}</span>` +
    `<div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${pct}"><div class="fill" style="width: ${pct}%"></div></div>` +
    `<span class="muted">${esc(counts)}${image.progress?.message ? ` ${esc(image.progress.message)}` : ''}</span>${error}</div>`
  );
}

function renderComposes(items: { view: ComposeView; status: ComposeStatus }[], now: number): string {
  if (!items.length) return '<p class="muted" id="composes-empty">No composes yet.</p>';
  const body = items
    .map(({ view, status }) => {
      const c = view.compose;
      const web = kojiWebUrl(c.koji_server);
      const taskId = status.koji_status.task_id;
      const buildId = status.koji_status.build_id;
      const links = [`<a class="logs" href="${esc(`${API_BASE}/composes/${encodeURIComponent(c.id)}/logs`)}">logs</a>`];
      if (web && Number.isSafeInteger(taskId) && taskId! > 0) links.push(`<a class="koji-task" href="${esc(`${web}/taskinfo?taskID=${taskId}`)}">task ${taskId}</a>`);
      if (web && Number.isSafeInteger(buildId) && buildId! > 0) links.push(`<a class="koji-build" href="${esc(`${web}/buildinfo?buildID=${buildId}`)}">build ${buildId}</a>`);
      const images = status.image_statuses.map((img, i) => renderImage(view, i, img)).join('');
      // the API's status stays pending until the Koji import; people see what the images are doing
      const activity = composeActivity(status);
      const reason = status.reason ? `<div class="error">${esc(status.reason)}</div>` : '';
      return (
        `<tr class="compose" data-id="${esc(c.id)}"><td>${ago(c.created_at, now)}</td>` +
        `<td><code>${esc(c.id)}</code><br>${esc(`${c.koji_name}-${c.koji_version}-${c.koji_release}`)} <span class="muted">${esc(c.distribution)}</span></td>` +
        `<td class="${statusClass(activity)} compose-status">${esc(activity)}${reason}</td>` +
        `<td class="images">${images}</td><td class="links">${links.join(' · ')}</td></tr>`
      );
    })
    .join('\n');
  return `<table id="composes"><thead><tr><th>Created</th><th>Compose</th><th>Status</th><th>Images</th><th>Links</th></tr></thead>\n<tbody>\n${body}\n</tbody></table>`;
}

function renderPaging(limit: number, offset: number, shown: number, total: number): string {
  const link = (o: number, rel: string, text: string) => `<a rel="${rel}" href="/status?offset=${o}&amp;limit=${limit}">${text}</a>`;
  const parts = [`<span id="page-info">${total ? `${offset + 1}–${offset + shown} of ${total}` : '0 of 0'}</span>`];
  if (offset > 0) parts.push(link(Math.max(0, offset - limit), 'prev', '← newer'));
  if (offset + shown < total) parts.push(link(offset + limit, 'next', 'older →'));
  return `<nav class="paging">${parts.join(' ')}</nav>`;
}

export const statusPageRoutes: FastifyPluginAsync<StatusPageOptions> = async (app, { pool, localWorkers }) => {
  app.get<{ Querystring: { limit: number; offset: number } }>(
    '/status',
    {
      schema: {
        summary: 'Status page (HTML)',
        description: 'Queue depth, workers and recent composes, for people.',
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT },
            offset: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 0 },
          },
        },
      } as FastifySchema,
    },
    async (request, reply) => {
      const { limit, offset } = request.query;
      const [depth, workers, composes] = await Promise.all([queueDepth(pool), loadWorkers(pool, localWorkers?.() ?? []), loadComposes(pool, limit, offset)]);
      const now = Date.now();
      const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kiln status</title><style>${CSS}</style></head>
<body>
<h1>Kiln status</h1><p class="muted">Kiln ${esc(KILN_VERSION)} · rendered <time datetime="${esc(new Date(now).toISOString())}">${esc(new Date(now).toISOString())}</time> · <a href="/metrics">metrics</a></p>
<h2>Queue</h2>
${renderQueue(depth)}
<h2>Workers</h2>
${renderWorkers(workers, now)}
<h2>Composes</h2>
${renderComposes(composes.items, now)}
${renderPaging(limit, offset, composes.items.length, composes.total)}
</body></html>
`;
      return reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        // nothing is loaded from anywhere; styles are inline (the <style> element and the bar widths)
        .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
        .send(html);
    },
  );
};
