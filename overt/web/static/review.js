/* Review at live rates: the reviewer's queue (one alert at a time, oldest first, decided from the keyboard),
 * the safe stop for the people on duty, and the review workload for oversight.
 * console.js announces the session ('overt:session') and the tab shown ('overt:tab'); the server decides
 * every permission and what may be seen (no identity before one's own decision). */
'use strict';

(() => {
  const { el, api, when } = Overt;
  const $ = (id) => document.getElementById(id);
  const REASONS = [
    'faces match in detail',
    'faces differ in detail',
    'image too poor to judge',
    'face partly hidden',
    'other (see note)',
  ];
  const KEYS = { c: 'confirm', n: 'reject', i: 'inconclusive' };
  let me = null;
  let shown = null;
  let timer = null;
  let item = null;
  let decided = false;

  const may = (action) => Boolean(me && me.may.includes(action));

  function say(text, error) {
    const node = $('flash');
    node.textContent = text;
    node.className = error ? 'error' : '';
  }

  async function attempt(action, done) {
    try {
      const result = await action();
      if (done) say(done);
      return result;
    } catch (error) {
      say(`Refused (${error.rule}): ${error.message}`, true);
      return undefined;
    }
  }

  function minutes(seconds) {
    if (seconds === null || seconds === undefined) return '—';
    return seconds < 90 ? `${Math.round(seconds)} s` : `${Math.round(seconds / 60)} min`;
  }

  // --- the reviewer's queue ---------------------------------------------------------------------
  async function loadQueue(force) {
    if (!force && item) return refreshLength();
    const page = await attempt(() => api('GET', '/api/review/queue?limit=1'));
    if (!page) return;
    showLength(page);
    item = page.items[0] || null;
    decided = false;
    $('queue-item').replaceChildren(...(item ? queueCard(item) : [el('p', { class: 'muted' }, 'Nothing waits for your decision.')]));
    document.body.dataset.queueReady = 'true';
  }

  async function refreshLength() {
    const page = await attempt(() => api('GET', '/api/review/queue?limit=1'));
    if (page) showLength(page);
  }

  function showLength(page) {
    $('queue-status').textContent = `${page.length} waiting for your decision · the oldest for ${minutes(page.oldest_waiting_s)}`;
    $('queue-status').dataset.length = page.length;
  }

  function figure(src, caption) {
    const img = el('img', { src, alt: caption, width: 220 });
    img.addEventListener('error', () => img.replaceWith(el('p', { class: 'missing' }, `${caption}: not kept (expired).`)));
    return el('figure', {}, img, el('figcaption', {}, caption));
  }

  function queueCard(alert) {
    const reason = el('select', { name: 'reason', 'aria-label': 'reason' },
      el('option', { value: '' }, 'reason…'), ...REASONS.map((r) => el('option', { value: r }, r)));
    const note = el('input', { name: 'note', placeholder: 'note (optional)', maxlength: 1500 });
    const decide = (decision) => attempt(async () => {
      if (!reason.value) throw Object.assign(new Error('choose a reason from the list first'), { rule: 'reason' });
      const text = note.value ? `${reason.value}: ${note.value}` : reason.value;
      const result = await api('POST', `/api/alerts/${alert.id}/review`, { decision, note: text });
      decided = true;
      $('queue-item').querySelector('.identity').replaceChildren(
        `You decided: ${decision}. `, result.subject ? el('strong', {}, `${result.subject} on ${result.watchlist}`) : '',
        result.case ? ` (case ${result.case})` : '',
        ' ', el('button', { type: 'button', class: 'next', onclick: () => loadQueue(true) }, 'Next (Enter)'));
      $('queue-item').querySelector('.decide').hidden = true;
    }, `Your decision on alert ${alert.id} is recorded.`);
    const sightings = alert.best_sightings.filter((s) => s.crop);
    return [el('article', { class: 'alert queue', dataset: { alertId: alert.id } },
      el('h3', {}, `Alert ${alert.id} · waiting since ${when(alert.time)}`),
      el('p', { class: 'where' }, alert.camera ? `camera ${alert.camera}` : 'a still image',
        ` · ${alert.sightings || 1} sighting(s) · ${alert.reviews} of ${alert.reviews_required} reviews`),
      el('div', { class: 'faces' },
        figure(`/api/alerts/${alert.id}/evidence/crop`, alert.camera ? 'Camera face crop' : 'Searched face'),
        figure(`/api/alerts/${alert.id}/reference`, 'Watchlist reference photo'),
        ...sightings.slice(1).map((s) => figure(`/api/sightings/${s.id}/crop`, `Sighting at ${when(s.at)} (${s.score.toFixed(3)})`))),
      el('p', { class: 'score' }, 'Score ', el('strong', {}, alert.score.toFixed(4)), ' against the threshold ',
        el('strong', {}, alert.threshold.toFixed(4)), alert.score >= alert.threshold ? ' (above it: a candidate, not a match)' : ''),
      el('p', { class: 'limitations' }, alert.notice.text),
      el('p', { class: 'identity' }, 'Identity: waiting for your decision.'),
      el('div', { class: 'decide' }, reason, note,
        el('button', { type: 'button', class: 'confirm', onclick: () => decide('confirm') }, 'Confirm match (c)'),
        el('button', { type: 'button', class: 'reject', onclick: () => decide('reject') }, 'Not a match (n)'),
        el('button', { type: 'button', onclick: () => decide('inconclusive') }, 'Inconclusive (i)')),
    )];
  }

  document.addEventListener('keydown', (event) => {
    if (shown !== 'review' || !item || event.ctrlKey || event.metaKey || event.altKey) return;
    const typing = ['INPUT', 'TEXTAREA'].includes(event.target.tagName);
    if (decided && event.key === 'Enter') {
      event.preventDefault();
      loadQueue(true);
    } else if (!decided && !typing && KEYS[event.key]) {
      event.preventDefault();
      const labels = { confirm: 'button.confirm', reject: 'button.reject', inconclusive: '.decide button:last-child' };
      $('queue-item').querySelector(labels[KEYS[event.key]]).click();
    }
  });

  // --- the safe stop ----------------------------------------------------------------------------
  async function loadStops() {
    const deployments = await attempt(() => api('GET', '/api/deployments'));
    if (!deployments) return;
    const running = deployments.filter((d) => ['approved', 'urgent'].includes(d.status));
    const rows = await Promise.all(running.map(stopRow));
    $('stop-list').replaceChildren(...(rows.length ? rows : [el('p', { class: 'muted' }, 'No deployment is in force.')]));
  }

  async function stopRow(d) {
    const pauses = (await attempt(() => api('GET', `/api/deployments/${d.id}/pauses?limit=20`))) || [];
    const active = pauses.filter((p) => !p.resumed_at);
    const reason = el('input', { name: 'reason', placeholder: 'why (recorded and published)', maxlength: 2000 });
    const act = (path, body, done) => attempt(async () => {
      await api('POST', `/api/deployments/${d.id}/${path}`, body);
      await loadStops();
    }, done);
    const pause = (camera) => act('pause', { reason: reason.value || 'stopped by the person on duty', camera },
      `Paused ${camera ? `camera ${camera}` : `deployment ${d.id}`}: cameras stop within seconds.`);
    return el('article', { class: 'stop', dataset: { deployment: d.id } },
      el('h3', {}, `Deployment ${d.id}: ${d.name}`),
      el('ul', {}, active.map((p) => el('li', { class: 'paused' },
        `${p.camera ? `camera ${p.camera}` : 'whole deployment'} paused ${when(p.at)} by ${p.by}: ${p.reason}`))),
      el('p', {}, reason,
        el('button', { type: 'button', class: 'pause-all', onclick: () => pause(null) }, 'Pause the whole deployment'),
        ...(d.spec.mode === 'live' ? d.spec.cameras : []).map((c) => el('button', { type: 'button', onclick: () => pause(c) }, `Pause camera ${c}`)),
        may('deployment.resume') && active.length
          ? el('button', { type: 'button', class: 'resume', onclick: () => act('resume', {}, `Deployment ${d.id} resumed.`) }, 'Resume')
          : null));
  }

  // --- workload, for oversight ------------------------------------------------------------------
  async function loadWorkload() {
    const w = await attempt(() => api('GET', '/api/review/workload'));
    if (!w) return;
    const t = w.time_to_decision_s;
    const share = (x) => (x === null ? '—' : `${(100 * x).toFixed(1)} %`);
    $('workload').replaceChildren(
      el('p', {}, `${w.alerts} alerts (${w.sightings_joined} further sightings joined them), ${w.decisions} decisions, ${w.pending} waiting.`),
      el('p', {}, `Time to decision: median ${t.p50 ?? '—'} s, 95th percentile ${t.p95 ?? '—'} s. `,
        `Reviewers disagreed on ${share(w.disagreement_share)} of decided alerts; ${share(w.inconclusive_share)} of decisions were inconclusive.`),
      el('table', {}, el('tr', {}, el('th', {}, 'reviewer'), el('th', {}, 'decisions'), el('th', {}, 'active hours'), el('th', {}, 'per hour')),
        Object.entries(w.per_reviewer).map(([name, v]) => el('tr', {}, el('td', {}, name), el('td', {}, v.decisions),
          el('td', {}, v.active_hours), el('td', {}, v.per_hour)))),
      el('h3', {}, 'Alerts waiting at the end of each hour'),
      el('table', {}, w.queue.slice(-48).map(([hour, waiting]) => el('tr', {}, el('td', {}, when(hour)), el('td', {}, waiting)))));
  }

  document.addEventListener('overt:session', (event) => { me = event.detail; });
  document.addEventListener('overt:tab', (event) => {
    shown = event.detail;
    clearInterval(timer);
    if (shown === 'review') {
      loadQueue(true);
      timer = setInterval(() => loadQueue(false), 5000);
    }
    if (shown === 'stop') loadStops();
    if (shown === 'workload') loadWorkload();
  });
})();
