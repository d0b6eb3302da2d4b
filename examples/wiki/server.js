'use strict';
// Demo "wiki" service for deployguard. It has a deliberate release-2 bug:
// with connect-framework on and no plugins, the editor page ships without
// its bootstrap module (still HTTP 200), so the editor stays an empty box:
// only a content probe or a real browser notices.
//
// Usage: node server.js --port PORT --state DIR
// DIR/release     deployed release, re-read on every request
// DIR/flags.json  flagd flag definitions, reloaded when mtime/inode changes
// DIR/tenants.json  {"acme":{"pluginCount":0},...}

const http = require('http');
const fs = require('fs');
const { URL } = require('url');
const { FlagdCore } = require('@openfeature/flagd-core');

function usage(msg) {
  process.stderr.write(`${msg}\nusage: node server.js --port PORT --state DIR\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const [key, inline] = argv[i].split(/=(.*)/s);
    if (key !== '--port' && key !== '--state') usage(`unknown argument: ${argv[i]}`);
    const val = inline !== undefined ? inline : argv[++i];
    if (val === undefined) usage(`missing value for ${key}`);
    opts[key.slice(2)] = val;
  }
  if (opts.state === undefined) usage('--state is required');
  if (opts.port === undefined || !/^\d+$/.test(opts.port) || Number(opts.port) > 65535) {
    usage('--port must be an integer 0-65535');
  }
  return { port: Number(opts.port), stateDir: opts.state };
}

const { port, stateDir } = parseArgs(process.argv.slice(2));
const RELEASE_FILE = `${stateDir}/release`;
const FLAGS_FILE = `${stateDir}/flags.json`;
const TENANTS_FILE = `${stateDir}/tenants.json`;

function warn(msg) {
  process.stderr.write(`wiki: warning: ${msg}\n`);
}

// The request log (DIR/wiki.log) that deployguard's log source tails: one
// line per request, and now and then an ordinary warning about the editor's
// module list (an optional module not found).
const LOG_FILE = `${stateDir}/wiki.log`;
function logLine(level, msg) {
  try {
    fs.appendFileSync(LOG_FILE, `${new Date().toISOString()} ${level} ${msg}\n`);
  } catch (e) {
    // The log is for diagnosis; a full disk must not take requests down.
  }
}

// flagd-core logs through this; debug/info would flood stderr on every request.
const flagLogger = {
  debug() {},
  info() {},
  warn: (...a) => warn(a.join(' ')),
  error: (...a) => warn(a.join(' ')),
};

// Returns a getter that re-parses `path` only when its inode/mtime/size
// changes. A bad or missing file keeps the last good value, so a half-written
// or broken edit never takes the service down.
function reloading(path, parse, initial) {
  let value = initial;
  let seen = null; // identity of the last version we looked at (good or bad)
  return function get() {
    let st;
    try {
      st = fs.statSync(path);
    } catch (e) {
      if (seen !== 'missing') warn(`${path}: ${e.message}; keeping previous contents`);
      seen = 'missing';
      return value;
    }
    const id = `${st.ino}:${st.mtimeMs}:${st.size}`;
    if (id === seen) return value;
    seen = id;
    try {
      value = parse(fs.readFileSync(path, 'utf8'));
    } catch (e) {
      warn(`${path}: ${e.message}; keeping previous contents`);
    }
    return value;
  };
}

const getFlags = reloading(FLAGS_FILE, (text) => {
  const doc = JSON.parse(text);
  // setConfigurations() happily accepts [] or {} and drops every flag;
  // treat that as a broken file rather than silently resetting flags.
  if (!isObject(doc) || !isObject(doc.flags)) throw new Error('not a flagd file (no "flags" object)');
  // Fresh evaluator per load, so a failed load cannot half-replace the old one.
  const core = new FlagdCore(undefined, flagLogger);
  core.setConfigurations(text);
  return core;
}, null);

const getTenants = reloading(TENANTS_FILE, (text) => {
  const doc = JSON.parse(text);
  if (!isObject(doc)) throw new Error('expected a JSON object of tenants');
  return doc;
}, {});

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function readRelease() {
  try {
    return fs.readFileSync(RELEASE_FILE, 'utf8').trim() || 'unknown';
  } catch (e) {
    return 'unknown';
  }
}

function lookupTenant(id) {
  const tenants = getTenants();
  // hasOwnProperty: "__proto__" or "constructor" must not count as tenants.
  if (id === null || !Object.prototype.hasOwnProperty.call(tenants, id)) return null;
  const t = tenants[id];
  return { id, pluginCount: Number(isObject(t) && t.pluginCount) || 0 };
}

// Any failure to evaluate falls back to the flag's code default (true).
function evalFramework(tenant) {
  const fallback = { value: true, variant: null, reason: 'ERROR' };
  const core = getFlags();
  if (!core) return fallback;
  try {
    const r = core.resolveBooleanEvaluation(
      'connect-framework', true,
      { targetingKey: tenant.id, pluginCount: tenant.pluginCount }, flagLogger);
    if (typeof r.value !== 'boolean') return fallback;
    return { value: r.value, variant: r.variant ?? null, reason: r.reason ?? null };
  } catch (e) {
    warn(`connect-framework evaluation failed: ${e.message}`);
    return fallback;
  }
}

// ---- metrics (Prometheus text exposition 0.0.4) ----

const requestsTotal = new Map(); // serialized labels -> count
const errorsTotal = new Map();

function escapeLabel(v) {
  return String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(obj) {
  return '{' + Object.entries(obj).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',') + '}';
}

function inc(map, lbls) {
  const key = labels(lbls);
  map.set(key, (map.get(key) || 0) + 1);
}

// Error series exist from the first request of a route and release, at 0, so
// an error ratio is 0 on a healthy service, not "no data".
function touchErrors(lbls) {
  const key = labels(lbls);
  if (!errorsTotal.has(key)) errorsTotal.set(key, 0);
}

function renderMetrics() {
  const out = [];
  out.push('# HELP wiki_http_requests_total HTTP requests served, by route, release and status code.');
  out.push('# TYPE wiki_http_requests_total counter');
  for (const [k, v] of requestsTotal) out.push(`wiki_http_requests_total${k} ${v}`);
  out.push('# HELP wiki_http_errors_total Failed requests: 5xx responses or editor pages rendered without the bootstrap module.');
  out.push('# TYPE wiki_http_errors_total counter');
  for (const [k, v] of errorsTotal) out.push(`wiki_http_errors_total${k} ${v}`);
  out.push('# HELP wiki_release_info Currently deployed release.');
  out.push('# TYPE wiki_release_info gauge');
  out.push(`wiki_release_info${labels({ release: readRelease() })} 1`);
  return out.join('\n') + '\n';
}

// ---- HTTP ----

const KNOWN_ROUTES = new Set(['/edit', '/flags/eval', '/healthz', '/metrics', '/control/errors',
  '/control/editor-fault']);

function routeLabel(path) {
  if (path.startsWith('/static/')) return '/static';
  return KNOWN_ROUTES.has(path) ? path : 'other';
}

let editErrorRate = 0; // set by POST /control/errors

// The editor's module, read once; '__FAULT__' is replaced per request by the
// fault set through POST /control/editor-fault (tests of the browser probe).
const BOOTSTRAP_JS = fs.readFileSync(`${__dirname}/static/editor-bootstrap.js`, 'utf8');
const EDITOR_FAULTS = new Set(['none', 'throw', 'missing-module', 'slow']);
let editorFault = { mode: 'none', delayMs: 0 };

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function editorPage(tenant, release, frameworkOn) {
  // THE BUG: release 2's connect-framework path forgets the bootstrap module
  // for tenants without plugins.
  const withBootstrap = !(release === '2' && frameworkOn && tenant.pluginCount === 0);
  const html = [
    '<!doctype html>',
    '<html><head><meta charset="utf-8">',
    `<title>Edit page - ${escapeHtml(tenant.id)}</title>`,
    withBootstrap ? '<script type="module" src="/static/editor-bootstrap.js"></script>' : '',
    '</head><body style="font-family: sans-serif; margin: 24px">',
    `<h1>Edit page - ${escapeHtml(tenant.id)}</h1>`,
    `<div id="editor" data-editor data-tenant="${escapeHtml(tenant.id)}" ` +
      `data-release="${escapeHtml(release)}" data-framework="${frameworkOn ? 'on' : 'off'}"></div>`,
    '</body></html>',
  ].filter(Boolean).join('\n') + '\n';
  return { html, withBootstrap };
}

function handle(req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  const path = url.pathname;
  const release = readRelease(); // re-read each time: deploy/rollback rewrite it
  const route = routeLabel(path);
  let brokenPage = false;

  // Every response goes through here so the counters cannot miss one.
  function send(code, type, body) {
    inc(requestsTotal, { route, release, code });
    touchErrors({ route, release });
    if (code >= 500 || brokenPage) inc(errorsTotal, { route, release });
    res.writeHead(code, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
  const sendJson = (code, obj) => send(code, 'application/json', JSON.stringify(obj) + '\n');
  const sendText = (code, text) => send(code, 'text/plain; charset=utf-8', text);

  try {
    const get = req.method === 'GET' || req.method === 'HEAD';

    if (get && path === '/edit') {
      if (editErrorRate > 0 && Math.random() < editErrorRate) return sendText(500, 'injected fault\n');
      const tenant = lookupTenant(url.searchParams.get('tenant'));
      if (!tenant) return sendText(404, 'unknown tenant\n');
      const flag = evalFramework(tenant);
      const page = editorPage(tenant, release, flag.value);
      brokenPage = !page.withBootstrap;
      // The module list: normally a rare warning; release 2's bug drops the
      // bootstrap module for zero-plugin tenants and the same warning shows
      // on every one of their requests (a frequency shift, not a new message).
      if (!page.withBootstrap || Math.random() < 0.05) {
        logLine('WARN', `editor module list for tenant ${tenant.id}: ${page.withBootstrap ? 4 : 3} modules resolved, ` +
          `optional module '${page.withBootstrap ? 'spellcheck' : 'editor-bootstrap'}' not found`);
      }
      logLine('INFO', `GET /edit tenant=${tenant.id} release=${release} status=200`);
      if (editorFault.mode === 'slow') {
        return setTimeout(() => send(200, 'text/html; charset=utf-8', page.html), editorFault.delayMs);
      }
      return send(200, 'text/html; charset=utf-8', page.html);
    }
    if (get && path === '/static/editor-bootstrap.js') {
      if (editorFault.mode === 'missing-module') return sendText(404, 'not found\n');
      return send(200, 'text/javascript; charset=utf-8', BOOTSTRAP_JS.replace('__FAULT__', editorFault.mode));
    }
    if (get && path === '/flags/eval') {
      const tenant = lookupTenant(url.searchParams.get('tenant'));
      if (!tenant) return sendJson(404, { error: 'unknown tenant' });
      const flag = evalFramework(tenant);
      return sendJson(200, { tenant: tenant.id, value: flag.value, variant: flag.variant, reason: flag.reason });
    }
    if (get && path === '/healthz') return sendText(200, 'ok');
    if (get && path === '/metrics') {
      return send(200, 'text/plain; version=0.0.4; charset=utf-8', renderMetrics());
    }
    if (req.method === 'POST' && path === '/control/errors') {
      const raw = url.searchParams.get('rate');
      const rate = Number(raw);
      if (raw === null || raw.trim() === '' || !Number.isFinite(rate) || rate < 0 || rate > 1) {
        return sendJson(400, { error: 'rate must be a number between 0 and 1' });
      }
      editErrorRate = rate;
      return sendJson(200, { error_rate: rate });
    }
    if (req.method === 'POST' && path === '/control/editor-fault') {
      // What no string check sees: a module that throws, a module that
      // 404s, a page that answers slowly. For the browser probe's tests.
      const mode = url.searchParams.get('mode') || 'none';
      const delayMs = Number(url.searchParams.get('delay_ms') || 3000);
      if (!EDITOR_FAULTS.has(mode) || !Number.isFinite(delayMs) || delayMs < 0 || delayMs > 60000) {
        return sendJson(400, { error: `mode is one of ${[...EDITOR_FAULTS].join(', ')}; delay_ms 0-60000` });
      }
      editorFault = { mode, delayMs };
      return sendJson(200, editorFault);
    }
    return sendText(404, 'not found\n');
  } catch (e) {
    warn(`request ${req.method} ${req.url} failed: ${e.stack || e}`);
    if (!res.headersSent) return sendText(500, 'internal error\n');
    res.destroy();
  }
}

const server = http.createServer((req, res) => {
  req.resume(); // no route reads a body; drain it so keep-alive works
  handle(req, res);
});

server.on('error', (e) => {
  process.stderr.write(`wiki: ${e.message}\n`);
  process.exit(1);
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`wiki listening on 127.0.0.1:${server.address().port}\n`);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeIdleConnections(); // don't wait for idle keep-alive clients
  setTimeout(() => process.exit(0), 2000).unref(); // nor for slow ones
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
