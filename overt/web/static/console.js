/* The operators' console: live alerts and blind review, deployments, cameras, the audit log, moderation.
 * The server decides every permission; this page only hides what the role would be refused. */
'use strict';

(() => {
  const { el, api, when } = Overt;
  const TABS = [
    ['alerts', 'Alerts', 'alert.read'],
    ['deployments', 'Deployments', 'deployment.read'],
    ['cameras', 'Cameras', 'camera.read'],
    ['audit', 'Audit log', 'audit.read'],
    ['reports', 'Public reports', 'public.moderate'],
    ['review', 'Review queue', 'alert.review'], // review.js
    ['stop', 'Safe stop', 'deployment.pause'], // review.js
    ['workload', 'Review workload', 'review.workload'], // review.js
  ];
  const CLOSED = ['revoked', 'rejected', 'lapsed'];
  const $ = (id) => document.getElementById(id);
  let me = null;
  let current = null;
  let cameraTimer = null;
  let verified = false;
  const alerts = new Map();
  const cards = new Map();

  const may = (action) => Boolean(me && me.may.includes(action));

  function flash(text, error) {
    const node = $('flash');
    node.textContent = text;
    node.className = error ? 'error' : '';
  }

  /** Run an action, report its refusal (rule and message) instead of failing silently. */
  async function attempt(action, done) {
    try {
      const result = await action();
      if (done) flash(done);
      return result;
    } catch (error) {
      if (error.status === 401) return showLogin('Your session has ended: log in again.');
      flash(`Refused (${error.rule}): ${error.message}`, true);
      return undefined;
    }
  }

  // --- session ---------------------------------------------------------------------------------
  function showLogin(message) {
    $('app').hidden = true;
    $('whoami').hidden = true;
    $('login').hidden = false;
    $('login-status').textContent = message || '';
  }

  $('login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      me = await api('POST', '/api/session', { token: event.target.token.value });
      event.target.reset();
      showApp();
    } catch (error) {
      $('login-status').textContent = error.status === 429 ? error.message : 'That token was not accepted.';
    }
  });

  async function logout() {
    await attempt(() => api('DELETE', '/api/session'));
    window.location.reload();
  }

  function showApp() {
    $('login').hidden = true;
    $('app').hidden = false;
    $('demo-banner').hidden = !me.demo;
    $('whoami').replaceChildren(`${me.user} (${me.role}) `, el('button', { type: 'button', onclick: logout }, 'Log out'));
    $('whoami').hidden = false;
    const allowed = TABS.filter(([, , action]) => may(action));
    $('tabs').replaceChildren(...allowed.map(([name, label]) =>
      el('button', { type: 'button', id: `to-${name}`, onclick: () => selectTab(name) }, label)));
    $('apply').hidden = !may('deployment.apply');
    $('add-camera').hidden = !may('camera.manage');
    document.dispatchEvent(new CustomEvent('overt:session', { detail: me }));
    if (may('alert.read')) openStream();
    if (allowed.length) selectTab(allowed[0][0]);
    else flash('Your role has nothing to do in this console.');
  }

  function selectTab(name) {
    current = name;
    for (const [tab] of TABS) {
      $(`tab-${tab}`).hidden = tab !== name;
      const button = $(`to-${tab}`);
      if (button) button.setAttribute('aria-current', tab === name ? 'page' : 'false');
    }
    clearInterval(cameraTimer);
    if (name === 'deployments') loadDeployments();
    if (name === 'cameras') {
      loadCameras();
      cameraTimer = setInterval(loadCameras, 5000);
    }
    if (name === 'audit') loadAudit();
    if (name === 'reports') loadReports();
    document.dispatchEvent(new CustomEvent('overt:tab', { detail: name }));
  }

  // --- alerts: live, and reviewed blind --------------------------------------------------------
  function openStream() {
    const live = $('live');
    const source = new EventSource('/api/alerts/stream');
    let loaded = false;
    source.addEventListener('ready', async () => {
      live.textContent = 'live';
      live.className = 'live on';
      if (!loaded) {
        loaded = true;
        const list = await attempt(() => api('GET', '/api/alerts?limit=200'));
        for (const alert of (list || []).reverse()) upsert(alert, false);
        document.body.dataset.alertsReady = 'true';
      }
    });
    source.addEventListener('alert', (event) => {
      const alert = JSON.parse(event.data);
      upsert(alert, true);
      flash(`New alert ${alert.id}: a possible match waits for review.`);
    });
    source.addEventListener('update', (event) => upsert(JSON.parse(event.data), false));
    source.addEventListener('error', () => {
      live.className = 'live';
      if (source.readyState !== EventSource.CLOSED) {
        live.textContent = 'reconnecting…';
        return;
      }
      live.textContent = 'stopped';
      setTimeout(async () => {
        try {
          await api('GET', '/api/session');
          openStream();
        } catch (error) {
          if (error.status === 401) showLogin('Your session has ended: log in again.');
        }
      }, 5000);
    });
  }

  function upsert(alert, isNew) {
    alerts.set(alert.id, alert);
    let card = cards.get(alert.id);
    if (!card) {
      card = alertCard(alert);
      cards.set(alert.id, card);
      const later = [...cards.keys()].filter((id) => id > alert.id).sort((a, b) => a - b)[0];
      const list = $('alert-list');
      if (later === undefined) list.prepend(card);
      else cards.get(later).after(card);
    }
    if (isNew) card.classList.add('new');
    refreshCard(card, alert);
  }

  $('alert-filter').addEventListener('change', () => {
    for (const [id, card] of cards) refreshCard(card, alerts.get(id));
  });

  function alertCard(alert) {
    const card = el('article', { class: 'alert', dataset: { alertId: alert.id } },
      el('h3', {}, `Alert ${alert.id} `, el('span', { class: 'status' })),
      el('p', { class: 'where' },
        `${when(alert.time)} · deployment ${alert.deployment} · `,
        alert.camera ? `camera ${alert.camera}` : `case ${alert.case || '—'}`),
      el('p', { class: 'match' },
        'Candidate ', el('strong', { class: 'who' }), ': score ',
        el('strong', { class: 'score' }, alert.score.toFixed(4)), ` (threshold ${alert.threshold.toFixed(4)})`),
      el('p', { class: 'reviews' }),
      el('div', { class: 'evidence' }),
      el('div', { class: 'actions' }),
    );
    if (may('evidence.read')) {
      card.querySelector('.evidence').append(
        el('button', { type: 'button', class: 'compare', onclick: () => showEvidence(card, alert.id) }, 'Compare faces'));
    }
    return card;
  }

  function showEvidence(card, id) {
    const figure = (src, caption, missing) => {
      const img = el('img', { src, alt: caption, width: 220 });
      img.addEventListener('error', () => img.replaceWith(el('p', { class: 'missing' }, missing)));
      return el('figure', {}, img, el('figcaption', {}, caption));
    };
    const alert = alerts.get(id);
    card.querySelector('.evidence').replaceChildren(
      el('div', { class: 'faces' },
        figure(`/api/alerts/${id}/evidence/crop`, alert.camera ? 'Camera face crop' : 'Searched face',
          'No camera image kept (expired or never kept).'),
        figure(`/api/alerts/${id}/reference`, 'Watchlist reference photo', 'No reference photo (removed or expired).')),
      el('p', { class: 'limitations' }, `Score ${alert.score.toFixed(4)} against threshold ${alert.threshold.toFixed(4)}. `,
        alert.notice.text));
  }

  function refreshCard(card, alert) {
    const filter = $('alert-filter').value;
    card.hidden = Boolean(filter) && alert.status !== filter;
    card.dataset.status = alert.status;
    card.querySelector('.status').textContent = alert.status;
    card.querySelector('.status').className = `status ${alert.status}`;
    card.querySelector('.who').textContent = alert.subject ? `${alert.subject} on ${alert.watchlist}` : 'waiting for review';
    const reviews = [`${alert.reviews} of ${alert.reviews_required} reviews`];
    if (alert.my_decision) reviews.push(`you decided: ${alert.my_decision}`);
    if (alert.actionable) reviews.push('confirmed: may be acted upon');
    if (alert.outcome) reviews.push(`outcome: ${alert.outcome}`);
    card.querySelector('.reviews').replaceChildren(reviews.join(' · '), ...(alert.decisions
      ? [el('ul', { class: 'decisions' }, alert.decisions.map((d) =>
        el('li', {}, `${d.reviewer}: ${d.decision}${d.note ? ` (${d.note})` : ''}`)))] : []));
    const actions = card.querySelector('.actions');
    let mode = 'none';
    if (alert.status === 'pending' && !alert.my_decision && may('alert.review')) mode = 'review';
    if (alert.status === 'confirmed' && !alert.outcome && may('alert.outcome')) mode = 'outcome';
    if (actions.dataset.mode === mode) return;
    actions.dataset.mode = mode;
    actions.replaceChildren(...(mode === 'review' ? reviewForm(alert.id) : mode === 'outcome' ? outcomeForm(alert.id) : []));
  }

  function reviewForm(id) {
    const note = el('input', { name: 'note', placeholder: 'note (optional)', maxlength: 2000 });
    const decide = (decision) => attempt(async () => {
      upsert(await api('POST', `/api/alerts/${id}/review`, { decision, note: note.value }), false);
    }, `Your decision on alert ${id} is recorded.`);
    return [note,
      el('button', { type: 'button', class: 'confirm', onclick: () => decide('confirm') }, 'Confirm match'),
      el('button', { type: 'button', class: 'reject', onclick: () => decide('reject') }, 'Not a match'),
      el('button', { type: 'button', onclick: () => decide('inconclusive') }, 'Inconclusive')];
  }

  function outcomeForm(id) {
    const text = el('input', { name: 'outcome', placeholder: 'what was done', maxlength: 2000 });
    return [text, el('button', {
      type: 'button',
      onclick: () => attempt(async () => {
        await api('POST', `/api/alerts/${id}/outcome`, { outcome: text.value });
        upsert(await api('GET', `/api/alerts/${id}`), false);
      }, `Outcome recorded for alert ${id}.`),
    }, 'Record outcome')];
  }

  // --- deployments -----------------------------------------------------------------------------
  async function loadDeployments() {
    const list = await attempt(() => api('GET', '/api/deployments'));
    if (!list) return;
    $('deployment-table').replaceChildren(...list.reverse().map(deploymentItem));
    const form = $('apply-form');
    if (may('deployment.apply') && !form.spec.value) {
      form.spec.value = await attempt(() => api('GET', '/api/deployments/template')) || '';
    }
  }

  function deploymentItem(d) {
    const reason = el('input', { name: 'reason', placeholder: 'reason (recorded)', maxlength: 2000 });
    const act = (path, body, done) => attempt(async () => {
      await api('POST', `/api/deployments/${d.id}/${path}`, body);
      await loadDeployments();
    }, done);
    const buttons = [];
    if (may('deployment.decide') && ['pending', 'urgent'].includes(d.status) && d.spec.authority === me.user) {
      for (const [verb, label] of [['approve', 'Approve'], ['reject', 'Reject'], ['return', 'Return for changes']]) {
        buttons.push(el('button', { type: 'button', onclick: () => act(verb, { reason: reason.value }, `Deployment ${d.id}: ${verb} recorded.`) }, label));
      }
    }
    if (may('deployment.revoke') && !CLOSED.includes(d.status)) {
      buttons.push(el('button', { type: 'button', class: 'reject', onclick: () => act('revoke', { reason: reason.value }, `Deployment ${d.id} revoked.`) }, 'Revoke'));
    }
    if (may('deployment.urgent') && d.status === 'pending' && d.applicant === me.user) {
      buttons.push(el('button', { type: 'button', onclick: () => act('urgent', { justification: reason.value }, `Deployment ${d.id} started urgently.`) }, 'Start urgently'));
    }
    return el('details', { class: 'deployment', dataset: { deployment: d.id, status: d.status } },
      el('summary', {}, `${d.id} · ${d.name} · `, el('span', { class: `status ${d.status}` }, d.status),
        ` · ${d.spec.mode} · applied by ${d.applicant}, authority ${d.spec.authority}`,
        d.approval_expires ? ` · approval expires ${when(d.approval_expires)}` : ''),
      el('h4', {}, 'History'),
      el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'when'), el('th', {}, 'who'), el('th', {}, 'decision'), el('th', {}, 'reason'))),
        el('tbody', {}, d.history.map((h) => el('tr', {}, el('td', {}, when(h.at)), el('td', {}, h.actor), el('td', {}, h.decision), el('td', {}, h.reason))))),
      buttons.length ? el('div', { class: 'actions' }, reason, ...buttons) : null,
      el('h4', {}, 'Application'),
      el('pre', { class: 'spec' }, JSON.stringify(d.spec, null, 2)),
    );
  }

  $('apply-form').addEventListener('submit', (event) => {
    event.preventDefault();
    attempt(async () => {
      const result = await api('POST', '/api/deployments', event.target.spec.value, 'application/yaml');
      await loadDeployments();
      return result;
    }, 'Application sent: it waits for the authority named in it.');
  });

  // --- cameras ---------------------------------------------------------------------------------
  const number = (value, digits) => (typeof value === 'number' ? value.toFixed(digits) : '—');

  async function loadCameras() {
    const list = await attempt(() => api('GET', '/api/cameras'));
    if (!list || current !== 'cameras') return;
    const head = ['camera', 'zone', 'location', 'source', 'state', 'fps', 'lag s', 'drops', 'faces seen', 'last error', ''];
    $('camera-table').replaceChildren(el('table', {},
      el('thead', {}, el('tr', {}, head.map((h) => el('th', {}, h)))),
      el('tbody', {}, list.map((c) => {
        const h = c.health || {};
        return el('tr', { dataset: { camera: c.id, state: h.state || 'not running' } },
          el('td', {}, el('strong', {}, c.name || c.id), el('br'), el('code', {}, c.id)),
          el('td', {}, c.zone),
          el('td', {}, c.lat === null ? '—' : `${c.lat.toFixed(5)}, ${c.lon.toFixed(5)}`),
          el('td', {}, el('code', {}, c.source)),
          el('td', { class: `state ${h.state || ''}` }, h.state || 'not running'),
          el('td', {}, number(h.fps_out ?? h.fps, 1)),
          el('td', {}, number(h.lag_s ?? h.lag, 2)),
          el('td', {}, h.drops ?? '—'),
          el('td', {}, h.faces_seen ?? '—'),
          el('td', { class: 'error' }, h.last_error || ''),
          el('td', {}, may('camera.manage') ? el('button', {
            type: 'button',
            onclick: () => attempt(async () => {
              await api('DELETE', `/api/cameras/${encodeURIComponent(c.id)}`);
              await loadCameras();
            }, `Camera ${c.id} removed.`),
          }, 'Remove') : ''));
      }))));
  }

  $('camera-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const form = event.target;
    const text = (name) => form.elements.namedItem(name).value; // form.id and form.name are the form's own
    const value = (name) => (text(name) === '' ? null : Number(text(name)));
    const body = {
      id: text('id'), name: text('name'), source: text('source'), lat: value('lat'), lon: value('lon'),
      direction: value('direction'), zone: text('zone'), operator: text('operator'), public_notice: text('public_notice'),
    };
    attempt(async () => {
      await api('POST', '/api/cameras', body);
      form.reset();
      await loadCameras();
    }, `Camera ${body.id} registered.`);
  });

  // --- audit -----------------------------------------------------------------------------------
  async function verify() {
    $('chain').textContent = 'verifying…';
    const result = await attempt(() => api('GET', '/api/audit/verify'));
    if (!result) return;
    $('chain').textContent = result.ok
      ? `intact: ${result.records} records, ${result.checkpoints} signed checkpoints verified`
      : `FAILED at record ${result.first_bad_seq}: ${result.problem}`;
    $('chain').className = result.ok ? 'ok' : 'error';
    await loadRecords();
  }

  async function loadRecords() {
    const rows = await attempt(() => api('GET', '/api/audit/records?limit=100'));
    if (!rows) return;
    const head = ['seq', 'when', 'actor', 'action', 'deployment', 'object', 'outcome', 'details'];
    $('audit-table').replaceChildren(el('table', {},
      el('thead', {}, el('tr', {}, head.map((h) => el('th', {}, h)))),
      el('tbody', {}, rows.map((r) => el('tr', { class: `outcome-${r.outcome}` },
        el('td', {}, r.seq), el('td', {}, when(r.at)), el('td', {}, r.actor), el('td', {}, r.action),
        el('td', {}, r.deployment ?? ''), el('td', {}, r.object_type ? `${r.object_type} ${r.object_id}` : ''),
        el('td', {}, r.outcome), el('td', {}, el('code', {}, JSON.stringify(r.details))))))));
  }

  async function loadAudit() {
    if (!verified) {
      verified = true;
      await verify();
    } else {
      await loadRecords();
    }
  }

  $('verify').addEventListener('click', verify);
  $('export').addEventListener('click', () => attempt(async () => {
    const response = await fetch('/api/audit/export', { credentials: 'same-origin' });
    if (!response.ok) throw new Overt.ApiError(response.status, 'export', `export failed (${response.status})`);
    const link = el('a', { href: URL.createObjectURL(await response.blob()), download: 'overt-audit.jsonl' });
    link.click();
    URL.revokeObjectURL(link.href);
  }, 'Audit log exported (the export itself is recorded).'));

  // --- the public's camera reports ---------------------------------------------------------------
  async function loadReports() {
    const list = await attempt(() => api('GET', '/api/moderation/reports'));
    if (!list) return;
    $('report-list').replaceChildren(...list.map(reportCard));
    if (!list.length) $('report-list').append(el('p', {}, 'No report is waiting.'));
  }

  function reportCard(r) {
    const id = el('input', { name: 'camera-id', value: `reported-${r.id}`, required: true });
    const name = el('input', { name: 'camera-name', placeholder: 'name' });
    const notice = el('input', { name: 'camera-notice', placeholder: 'public notice' });
    const decide = (verb, body) => attempt(async () => {
      await api('POST', `/api/moderation/reports/${r.id}/${verb}`, body);
      await loadReports();
    }, `Report ${r.id}: ${verb}ed.`);
    return el('article', { class: 'report', dataset: { report: r.id } },
      el('h3', {}, `Report ${r.id}`),
      el('p', {}, `${when(r.created)} · at ${r.lat.toFixed(5)}, ${r.lon.toFixed(5)}`),
      el('p', { class: 'note' }, r.note || '(no note)'),
      r.has_photo ? el('img', { src: `/api/moderation/reports/${r.id}/photo`, alt: `Photo sent with report ${r.id}`, width: 320 }) : null,
      el('div', { class: 'actions' }, 'Register as camera ', id, name, notice,
        el('button', { type: 'button', class: 'confirm', onclick: () => decide('accept', { id: id.value, name: name.value, public_notice: notice.value }) }, 'Accept'),
        el('button', { type: 'button', class: 'reject', onclick: () => decide('reject') }, 'Reject')));
  }

  // --- start -----------------------------------------------------------------------------------
  api('GET', '/api/session').then((session) => {
    me = session;
    showApp();
  }).catch((error) => showLogin(error.status === 401 ? '' : error.message));
})();
