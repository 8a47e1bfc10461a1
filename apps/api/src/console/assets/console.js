// The operators' console: a small module over the JSON API. The session lives in an HttpOnly cookie the
// page cannot read; the CSRF token is kept in memory only (never in a URL or in storage) and sent in the
// x-csrf-token header of every state-changing request. Everything shown is built with textContent.

let csrfToken = null;
let timer = null;
const main = document.getElementById('main');
const statusLine = document.getElementById('status');

/** h('td', {class: 'num'}, 'text', child): an element; strings become text nodes, never HTML. */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function say(message) {
  statusLine.textContent = message;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => (statusLine.textContent = ''), 6000);
}

class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = response.status === 204 ? null : await response.json().catch(() => null);
  if (response.status === 401 && path !== '/console/session') {
    showSignIn('Your session has ended: sign in again.');
    throw new ApiError(401, payload);
  }
  if (!response.ok) throw new ApiError(response.status, payload);
  return payload;
}

function failure(error) {
  const issues = error.body?.issues?.map((i) => `${i.field}: ${i.message}`).join('; ');
  return `${error.status ? `${error.status} ` : ''}${error.body?.error ?? ''} ${issues || error.message}`.trim();
}

function table(columns, rows, caption) {
  return h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      {},
      caption ? h('caption', { class: 'muted' }, caption) : null,
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)),
        ),
      ),
      h(
        'tbody',
        {},
        rows.length
          ? rows.map((row) =>
              h(
                'tr',
                {},
                columns.map((c) => h('td', { class: c.num ? 'num' : null }, c.cell(row))),
              ),
            )
          : h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, 'none')),
      ),
    ),
  );
}

const state = (value) => h('span', { class: value }, value);
const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en') : (n ?? '—'));

function every(ms, render) {
  clearInterval(timer);
  const run = () => render().catch((error) => error.status !== 401 && say(`Refresh failed: ${failure(error)}`));
  run();
  timer = setInterval(run, ms);
}

// ---- sign-in / sign-out

function showSignIn(message) {
  clearInterval(timer);
  csrfToken = null;
  document.getElementById('nav').hidden = true;
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', required: true });
  const error = h('p', { role: 'alert', class: 'error' }, message ?? '');
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'sign-in-title' },
    h('h2', { id: 'sign-in-title' }, 'Sign in'),
    h(
      'p',
      { class: 'muted' },
      'Paste an operator token (npm run cli -- token --kind operator). It is exchanged once for a short session; it is not kept.',
    ),
    h('label', { for: 'token' }, 'Operator token'),
    input,
    h('div', {}, h('button', { type: 'submit' }, 'Sign in')),
    error,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const session = await api('POST', '/console/session', { token: input.value });
      input.value = '';
      signedIn(session);
      if (!location.hash || location.hash === '#/sign-in') location.hash = '#/overview';
      else route();
    } catch (e) {
      error.textContent = `Sign-in refused: ${failure(e)}`;
    }
  });
  main.replaceChildren(form);
  input.focus();
}

function signedIn(session) {
  csrfToken = session.csrfToken;
  document.getElementById('who').textContent =
    `${session.subject} · until ${new Date(session.expiresAt).toLocaleTimeString()}`;
  document.getElementById('nav').hidden = false;
}

document.getElementById('sign-out').addEventListener('click', async () => {
  try {
    await api('DELETE', '/console/session');
  } finally {
    showSignIn('Signed out.');
  }
});

// ---- overview

let previous = null;

async function overview() {
  main.replaceChildren(
    h('h2', {}, 'Overview'),
    h('p', { class: 'muted' }, 'Refreshed every 3 s from the apps’ own health and metrics.'),
  );
  const body = h('div', { class: 'grid' });
  main.append(body);
  previous = null;
  every(3000, async () => {
    const o = await api('GET', '/v1/admin/overview');
    const seconds = previous ? (Date.parse(o.sampledAt) - Date.parse(previous.sampledAt)) / 1000 : 0;
    const rate = (key) =>
      previous && seconds > 0 ? ((o.counters[key] - previous.counters[key]) / seconds).toFixed(1) : '…';
    previous = o;
    const lag = o.ingestLag.error ? null : o.ingestLag;
    const queue = o.compactionQueue.error ? null : o.compactionQueue;
    body.replaceChildren(
      h(
        'section',
        { 'aria-labelledby': 'ov-deps' },
        h('h3', { id: 'ov-deps' }, 'Dependencies'),
        table(
          [
            { label: 'service', cell: (r) => r[0] },
            { label: 'status', cell: (r) => state(r[1].status) },
            { label: 'why', cell: (r) => r[1].messages.join('; ') },
          ],
          Object.entries(o.dependencies),
        ),
      ),
      h(
        'section',
        { 'aria-labelledby': 'ov-apps' },
        h('h3', { id: 'ov-apps' }, 'Apps'),
        table(
          [
            { label: 'app', cell: (r) => r.app },
            { label: 'ready', cell: (r) => state(r.status) },
          ],
          o.apps,
        ),
      ),
      h(
        'section',
        { 'aria-labelledby': 'ov-flow' },
        h('h3', { id: 'ov-flow' }, 'Events per second'),
        h('p', {}, 'in (collector): ', h('span', { class: 'big', id: 'rate-in' }, rate('eventsAccepted'))),
        h('p', {}, 'written (ingest): ', h('span', { class: 'big', id: 'rate-written' }, rate('eventsWritten'))),
      ),
      h(
        'section',
        { 'aria-labelledby': 'ov-lag' },
        h('h3', { id: 'ov-lag' }, 'Ingest lag'),
        lag
          ? h('p', {}, 'total ', h('span', { class: 'big' }, fmt(lag.total)), ' messages')
          : h('p', { class: 'error' }, o.ingestLag.error),
        lag
          ? table(
              [
                { label: 'partition', cell: (r) => r.partition, num: true },
                { label: 'committed', cell: (r) => r.committed ?? '—', num: true },
                { label: 'end', cell: (r) => r.end, num: true },
                { label: 'lag', cell: (r) => fmt(r.lag), num: true },
              ],
              lag.partitions,
            )
          : null,
      ),
      h(
        'section',
        { 'aria-labelledby': 'ov-dl' },
        h('h3', { id: 'ov-dl' }, 'Dead letters'),
        o.deadLetters.error
          ? h('p', { class: 'error' }, o.deadLetters.error)
          : h(
              'p',
              {},
              h(
                'a',
                { href: '#/dead-letters' },
                h('span', { class: 'big', id: 'dead-letters-pending' }, fmt(o.deadLetters.pending)),
                ' waiting',
              ),
            ),
        h('p', { class: 'muted' }, `dead-lettered by ingest since its start: ${fmt(o.counters.deadLettered)}`),
      ),
      h(
        'section',
        { 'aria-labelledby': 'ov-shed' },
        h('h3', { id: 'ov-shed' }, 'Requests shed'),
        table(
          [
            { label: 'reason', cell: (r) => r[0] },
            { label: 'total', cell: (r) => fmt(r[1]), num: true },
          ],
          Object.entries(o.counters.requestsShed),
        ),
      ),
      h(
        'section',
        { 'aria-labelledby': 'ov-queue' },
        h('h3', { id: 'ov-queue' }, 'Compaction queue'),
        queue
          ? table(
              [
                { label: 'state', cell: (r) => r[0] },
                { label: 'jobs', cell: (r) => fmt(r[1]), num: true },
              ],
              Object.entries(queue.counts),
            )
          : h('p', { class: 'error' }, o.compactionQueue.error),
        table(
          [
            { label: 'outcome', cell: (r) => r[0] },
            { label: 'jobs finished', cell: (r) => fmt(r[1]), num: true },
          ],
          Object.entries(o.counters.compactionJobs),
        ),
        queue?.recentFailures.length
          ? table(
              [
                { label: 'failed job', cell: (r) => r.jobId },
                { label: 'profile', cell: (r) => r.profileId ?? '—' },
                { label: 'reason', cell: (r) => r.failedReason },
              ],
              queue.recentFailures,
            )
          : null,
      ),
    );
  });
}

// ---- compaction

function compaction() {
  const profiles = h('textarea', { id: 'profiles', rows: 3, 'aria-describedby': 'profiles-help' });
  const all = h('input', { type: 'checkbox', id: 'all' });
  const dryRun = h('input', { type: 'checkbox', id: 'dry-run' });
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'compact-title' },
    h('h3', { id: 'compact-title' }, 'Request compaction'),
    h('label', { for: 'profiles' }, 'Profiles'),
    profiles,
    h('p', { id: 'profiles-help', class: 'muted' }, 'One profile id, or several separated by commas or lines.'),
    h('label', { class: 'inline' }, all, 'Every profile with old live history (all)'),
    h('label', { class: 'inline' }, dryRun, 'Dry run (report only, change nothing)'),
    h('div', {}, h('button', { type: 'submit' }, 'Compact')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const ids = profiles.value.split(/[\s,]+/).filter(Boolean);
    const body = all.checked ? { all: true } : ids.length === 1 ? { profileId: ids[0] } : { profileIds: ids };
    try {
      const job = await api('POST', '/v1/admin/compactions', { ...body, dryRun: dryRun.checked });
      say(`Compaction requested: job ${job.jobId}`);
    } catch (e) {
      say(`Refused: ${failure(e)}`);
    }
  });
  const jobs = h('section', { 'aria-labelledby': 'jobs-title' }, h('h3', { id: 'jobs-title' }, 'Recent jobs'));
  main.replaceChildren(h('h2', {}, 'Compaction'), form, jobs);
  every(2000, async () => {
    const recent = await api('GET', '/v1/admin/compactions?limit=30');
    jobs.replaceChildren(
      h('h3', { id: 'jobs-title' }, 'Recent jobs'),
      h(
        'p',
        { class: 'muted' },
        Object.entries(recent.counts)
          .map(([k, v]) => `${k} ${v}`)
          .join(' · '),
      ),
      table(
        [
          { label: 'job', cell: (j) => j.jobId },
          { label: 'kind', cell: (j) => j.kind },
          {
            label: 'profile',
            cell: (j) =>
              j.data.profileId
                ? h('a', { href: `#/profile/${encodeURIComponent(j.data.profileId)}` }, j.data.profileId)
                : j.data.all
                  ? 'all'
                  : `${j.data.profileIds?.length ?? 0} listed`,
          },
          { label: 'dry run', cell: (j) => (j.data.dryRun ? 'yes' : '') },
          { label: 'state', cell: (j) => state(j.state) },
          {
            label: 'progress',
            cell: (j) => (typeof j.progress === 'number' ? `${j.progress}%` : JSON.stringify(j.progress)),
          },
          { label: 'outcome', cell: (j) => (j.result ? JSON.stringify(j.result) : '') },
          { label: 'failure', cell: (j) => j.failedReason ?? '' },
          { label: 'created', cell: (j) => new Date(j.createdAt).toLocaleTimeString() },
        ],
        recent.jobs,
      ),
    );
  });
}

// ---- dead letters

async function deadLetters() {
  const reason = h('input', { type: 'text', id: 'reason' });
  const filter = h(
    'form',
    { class: 'card', role: 'search' },
    h('label', { for: 'reason' }, 'Reason contains'),
    reason,
    h('div', {}, h('button', { type: 'submit' }, 'Filter')),
  );
  const list = h('section', { 'aria-labelledby': 'dl-title' });
  const payload = h('section', { 'aria-labelledby': 'payload-title', hidden: true });
  main.replaceChildren(h('h2', {}, 'Dead letters'), filter, list, payload);
  let after = null;
  const load = async () => {
    const query = new URLSearchParams({ limit: '50' });
    if (reason.value) query.set('reason', reason.value);
    if (after) query.set('after', after);
    const page = await api('GET', `/v1/admin/dead-letters?${query}`);
    const selected = new Set();
    const act = async (label, path, body, confirmText) => {
      if (confirmText && !confirm(confirmText)) return;
      try {
        const report = await api('POST', path, body);
        say(`${label}: ${JSON.stringify(report.purged ?? report.redriven?.length ?? report)}`);
        after = null;
        await load();
      } catch (e) {
        say(`${label} refused: ${failure(e)}`);
      }
    };
    list.replaceChildren(
      h('h3', { id: 'dl-title' }, `${page.pending} waiting`),
      table(
        [
          {
            label: 'select',
            cell: (l) =>
              h('input', {
                type: 'checkbox',
                'aria-label': `select ${l.id}`,
                onchange: (e) => (e.target.checked ? selected.add(l.id) : selected.delete(l.id)),
              }),
          },
          {
            label: 'id',
            cell: (l) => h('button', { type: 'button', class: 'secondary', onclick: () => show(l) }, l.id),
          },
          { label: 'reason', cell: (l) => l.reason },
          { label: 'source', cell: (l) => `${l.source.topic} p${l.source.partition} @${l.source.offset}` },
          { label: 'key', cell: (l) => l.key ?? '' },
          { label: 'dead-lettered', cell: (l) => new Date(l.deadLetteredAt).toLocaleString() },
          { label: 're-driven from', cell: (l) => l.redrivenFrom ?? '' },
        ],
        page.deadLetters,
      ),
      h(
        'div',
        {},
        h(
          'button',
          {
            type: 'button',
            onclick: () => selected.size && act('Re-driven', '/v1/admin/dead-letters/redrive', { ids: [...selected] }),
          },
          'Re-drive selected',
        ),
        h(
          'button',
          {
            type: 'button',
            class: 'secondary',
            onclick: () =>
              act(
                'Re-driven',
                '/v1/admin/dead-letters/redrive',
                { all: true },
                'Re-drive every dead letter onto the event log?',
              ),
          },
          'Re-drive all',
        ),
        h(
          'button',
          {
            type: 'button',
            class: 'danger',
            onclick: () => {
              const last = [...selected].sort(byId).pop();
              if (last)
                act(
                  'Purged',
                  '/v1/admin/dead-letters/purge',
                  { through: last },
                  `Delete ${last} and every older letter of its partition? This cannot be undone.`,
                );
            },
          },
          'Purge through selected',
        ),
        h(
          'button',
          {
            type: 'button',
            class: 'danger',
            onclick: () =>
              act(
                'Purged',
                '/v1/admin/dead-letters/purge',
                { all: true },
                'Delete every dead letter? This cannot be undone.',
              ),
          },
          'Purge all',
        ),
        page.next
          ? h(
              'button',
              {
                type: 'button',
                class: 'secondary',
                onclick: () => {
                  after = page.next;
                  load();
                },
              },
              'Next page',
            )
          : null,
      ),
    );
  };
  const show = (letter) => {
    payload.hidden = false;
    payload.replaceChildren(
      h('h3', { id: 'payload-title' }, `Dead letter ${letter.id}`),
      h('p', {}, letter.reason),
      // A binary letter (a sealed event, docs/event-log.md) comes as base64: say so rather than show it as text.
      ...(letter.payloadEncoding === 'base64'
        ? [h('p', { class: 'muted' }, 'payload: binary (a sealed event), shown as base64')]
        : []),
      h(
        'pre',
        { tabindex: 0, 'aria-label': 'payload' },
        letter.payloadEncoding === 'base64' ? letter.payload : pretty(letter.payload),
      ),
      h('p', { class: 'muted' }, `headers: ${JSON.stringify(letter.headers)}`),
    );
    payload.focus?.();
  };
  filter.addEventListener('submit', (event) => {
    event.preventDefault();
    after = null;
    load().catch((e) => say(failure(e)));
  });
  clearInterval(timer);
  await load();
}

const byId = (a, b) => {
  const [pa, oa] = a.split('-').map(BigInt);
  const [pb, ob] = b.split('-').map(BigInt);
  return pa === pb ? (oa < ob ? -1 : oa > ob ? 1 : 0) : pa < pb ? -1 : 1;
};

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text ?? '(empty)';
  }
}

// ---- profile

async function profile(profileId) {
  clearInterval(timer);
  const input = h('input', { type: 'text', id: 'profile-id', value: profileId ?? '' });
  const form = h(
    'form',
    { class: 'card', role: 'search' },
    h('label', { for: 'profile-id' }, 'Profile id'),
    input,
    h('div', {}, h('button', { type: 'submit' }, 'Open')),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    location.hash = `#/profile/${encodeURIComponent(input.value.trim())}`;
  });
  main.replaceChildren(h('h2', {}, profileId ? `Profile ${profileId}` : 'Profile'), form);
  if (!profileId) return input.focus();
  const view = h('div', {});
  main.append(view);
  const load = async () => {
    const p = await api('GET', `/v1/admin/profiles/${encodeURIComponent(profileId)}?records=200`);
    const c = p.compressed;
    const actions = h(
      'div',
      {},
      h('button', { type: 'button', onclick: () => recompact(false) }, 'Re-compact'),
      h('button', { type: 'button', class: 'secondary', onclick: () => recompact(true) }, 'Re-compact (dry run)'),
      h('button', { type: 'button', class: 'danger', onclick: repair }, 'Repair from the event log'),
      h(
        'button',
        { type: 'button', class: 'secondary', onclick: () => load().catch((e) => say(failure(e))) },
        'Refresh',
      ),
    );
    view.replaceChildren(
      h(
        'section',
        { 'aria-labelledby': 'p-summary' },
        h('h3', { id: 'p-summary' }, 'Storage'),
        table(
          [
            { label: 'what', cell: (r) => r[0] },
            { label: 'value', cell: (r) => r[1] },
          ],
          [
            ['records (merged history)', fmt(p.recordCount)],
            ['live rows', fmt(p.liveRowCount)],
            ['compressed version', c ? c.version : 'none'],
            ['compressed records', c ? fmt(c.recordCount) : '—'],
            ['compacted before', c?.compactedBefore ?? '—'],
            ['last compaction', c?.lastCompactedAt ?? '—'],
            ['codec / encoding', c ? `${c.codec} / ${c.recordEncoding}` : '—'],
            ['dictionary', c ? (c.dictionaryId === 0 ? 'none' : c.dictionaryId) : '—'],
            ['bytes raw → stored', c ? `${fmt(c.rawBytes)} → ${fmt(c.storedBytes)}` : '—'],
          ],
        ),
        actions,
      ),
      c
        ? h(
            'section',
            { 'aria-labelledby': 'p-chunks' },
            h('h3', { id: 'p-chunks' }, `Chunks of set ${c.chunkSet}`),
            table(
              [
                { label: '#', cell: (r) => r.index, num: true },
                { label: 'kind', cell: (r) => r.kind },
                { label: 'bytes', cell: (r) => fmt(r.storedBytes), num: true },
                { label: 'sha256 (first 128 bits)', cell: (r) => h('code', {}, r.checksum) },
                {
                  label: 'intact',
                  cell: (r) =>
                    h('span', { class: r.intact ? 'up' : 'down' }, r.intact ? 'yes' : 'NO: corrupt or missing'),
                },
              ],
              c.chunks,
            ),
          )
        : null,
      h(
        'section',
        { 'aria-labelledby': 'p-history' },
        h('h3', { id: 'p-history' }, 'History (newest first)'),
        table(
          [
            { label: 'started', cell: (r) => new Date(r.startedAt).toISOString() },
            { label: 'title', cell: (r) => r.titleId },
            { label: 'device', cell: (r) => r.deviceId },
            { label: 'state', cell: (r) => r.state },
            { label: 'watched (min)', cell: (r) => (r.watchedMs / 60000).toFixed(1), num: true },
            { label: 'record', cell: (r) => h('code', {}, r.recordId) },
          ],
          p.records,
        ),
      ),
    );
  };
  const recompact = async (dryRun) => {
    try {
      const job = await api('POST', '/v1/admin/compactions', { profileId, dryRun });
      say(`Compaction requested: job ${job.jobId}`);
      for (let i = 0; i < 120; i++) {
        const view = await api('GET', `/v1/admin/compactions/${encodeURIComponent(job.jobId)}`);
        if (view.state === 'completed' || view.state === 'failed') {
          say(`Compaction ${view.state}${view.failedReason ? `: ${view.failedReason}` : ''}`);
          return load();
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    } catch (e) {
      say(`Compaction refused: ${failure(e)}`);
    }
  };
  async function repair() {
    if (!confirm(`Rebuild ${profileId}'s history from the event log?`)) return;
    try {
      const report = await api('POST', `/v1/admin/profiles/${encodeURIComponent(profileId)}/repair`);
      say(`Repaired: ${report.events} events read`);
      await load();
    } catch (e) {
      say(`Repair failed: ${failure(e)}`);
    }
  }
  await load();
}

// ---- routing

const PAGES = { overview, compaction, 'dead-letters': deadLetters, profile };

async function route() {
  if (!csrfToken) return;
  const [, page = 'overview', argument] = location.hash.split('/');
  const render = PAGES[page] ?? overview;
  for (const link of document.querySelectorAll('nav a')) {
    if (link.getAttribute('href') === `#/${page}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  try {
    await render(argument === undefined ? undefined : decodeURIComponent(argument));
    main.focus({ preventScroll: true });
  } catch (error) {
    if (error.status !== 401) main.append(h('p', { role: 'alert', class: 'error' }, failure(error)));
  }
}

window.addEventListener('hashchange', route);

(async () => {
  try {
    signedIn(await api('GET', '/console/session'));
    await route();
  } catch {
    showSignIn();
  }
})();
