/* The console's desk for the DPO, the auditor and the authority: the audit log (filtered, paged, exported,
 * verified), data-subject requests, complaints, reports, retention, users and watchlists.
 * It adds tabs to the console (console.js shows those the role may use); the server decides every permission. */
'use strict';

(() => {
  const { el, api, when } = Overt;
  const app = document.getElementById('app');
  let desk = null; // { may, attempt, flash } from console.js

  /** A section for a tab, appended to the console; `body` builds its fixed content once. */
  function section(name, title, ...body) {
    const node = el('section', { id: `tab-${name}`, class: 'tab', hidden: true }, el('h2', {}, title), ...body);
    app.append(node);
    return node;
  }

  const label = (key) => key.replace(/_/g, ' ');
  const day = (iso) => (iso ? iso.slice(0, 10) : '—');
  const input = (name, attrs) => el('input', { name, ...(attrs || {}) });
  const select = (name, options, value) => el('select', { name },
    options.map(([v, text]) => el('option', { value: v, selected: v === value }, text)));
  const field = (text, control, wide) => el('label', { class: wide ? 'wide' : null }, text, ' ', control);
  const table = (head, rows, empty) => el('table', {},
    el('thead', {}, el('tr', {}, head.map((h) => el('th', {}, h)))),
    el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: head.length }, empty || 'none'))));
  const row = (...cells) => el('tr', {}, cells.map((c) => el('td', {}, c ?? '')));

  /** A value from an audit record's details, as text a person reads. */
  function text(value) {
    if (value === null || value === undefined || value === '') return '—';
    if (Array.isArray(value)) return value.length ? value.join(', ') : 'none';
    if (typeof value === 'object') return Object.entries(value).map(([k, v]) => `${label(k)}: ${v}`).join('; ') || 'none';
    return String(value);
  }

  function download(href) {
    const link = el('a', { href, download: '' });
    document.body.append(link);
    link.click();
    link.remove();
  }

  // --- the audit log -------------------------------------------------------------------------------
  const audit = { cursors: [], next: null, total: 0, verified: false };
  const auditFilters = el('form', { id: 'audit-filters' },
    field('Actor', input('actor', { placeholder: 'any' })),
    field('Action', el('select', { name: 'action' }, el('option', { value: '' }, 'any'))),
    field('Deployment', input('deployment', { type: 'number', min: 1, placeholder: 'any' })),
    field('Outcome', select('outcome', [['', 'any'], ['ok', 'ok'], ['refused', 'refused'], ['error', 'error']], '')),
    field('From', input('since', { type: 'datetime-local' })),
    field('Before', input('until', { type: 'datetime-local' })),
    field('Per page', select('limit', [['25', '25'], ['50', '50'], ['100', '100'], ['200', '200']], '50')),
    el('button', { type: 'submit' }, 'Filter'),
  );
  section('audit', 'Audit log',
    el('p', {}, el('button', { type: 'button', id: 'verify', onclick: () => verifyChain() }, 'Verify the chain'), ' ',
      el('span', { id: 'chain', role: 'status' })),
    auditFilters,
    el('p', { class: 'actions' },
      el('button', { type: 'button', id: 'audit-newer', onclick: () => auditPage(-1) }, '← Newer'),
      el('span', { id: 'audit-position' }),
      el('button', { type: 'button', id: 'audit-older', onclick: () => auditPage(1) }, 'Older →'),
      el('button', { type: 'button', id: 'audit-export', onclick: () => download(`/api/audit/search/export?${auditQuery().toString()}`) },
        'Export these records (JSON lines)')),
    el('div', { id: 'audit-table' }));

  function auditQuery() {
    const form = auditFilters;
    const params = new URLSearchParams();
    for (const name of ['actor', 'action', 'deployment', 'outcome']) {
      const value = form.elements.namedItem(name).value.trim();
      if (value) params.set(name, value);
    }
    for (const name of ['since', 'until']) {
      const value = form.elements.namedItem(name).value;
      if (value) params.set(name, new Date(value).toISOString());
    }
    return params;
  }

  async function verifyChain() {
    const status = document.getElementById('chain');
    status.textContent = 'verifying…';
    const result = await desk.attempt(() => api('GET', '/api/audit/verify'));
    if (!result) return;
    status.textContent = result.ok
      ? `intact: ${result.records} records, ${result.checkpoints} signed checkpoints verified`
      : `FAILED at record ${result.first_bad_seq}: ${result.problem}`;
    status.className = result.ok ? 'ok' : 'error';
    status.dataset.ok = String(result.ok);
  }

  /** step 0: first page of the filter; 1: older; -1: newer. */
  async function auditPage(step) {
    if (step === 1 && audit.next === null) return;
    if (step === 1) audit.cursors.push(audit.next);
    if (step === -1) audit.cursors.pop();
    if (step === 0) audit.cursors = [];
    const params = auditQuery();
    params.set('limit', auditFilters.elements.namedItem('limit').value);
    const cursor = audit.cursors[audit.cursors.length - 1];
    if (cursor) params.set('cursor', cursor);
    const page = await desk.attempt(() => api('GET', `/api/audit/search?${params.toString()}`));
    if (!page) return;
    audit.next = page.next_cursor;
    if (page.total !== undefined) { // the first page counts and lists the actions; later pages keep them
      audit.total = page.total;
      const actions = auditFilters.elements.namedItem('action');
      const chosen = actions.value;
      const prefixes = [...new Set(page.actions.filter((a) => a.includes('.')).map((a) => `${a.split('.')[0]}.`))];
      actions.replaceChildren(el('option', { value: '' }, 'any'),
        ...prefixes.map((p) => el('option', { value: p }, `${p}* (all)`)),
        ...page.actions.map((a) => el('option', { value: a }, a)));
      actions.value = chosen;
    }
    const first = audit.cursors.length * Number(params.get('limit'));
    document.getElementById('audit-position').textContent = audit.total
      ? `records ${first + 1}–${first + page.records.length} of ${audit.total}` : 'no records match';
    document.getElementById('audit-newer').disabled = audit.cursors.length === 0;
    document.getElementById('audit-older').disabled = page.next_cursor === null;
    document.getElementById('audit-table').replaceChildren(table(
      ['seq', 'when', 'actor', 'action', 'deployment', 'object', 'outcome', 'details'],
      page.records.map((r) => el('tr', { class: `outcome-${r.outcome}`, dataset: { seq: r.seq } },
        el('td', {}, r.seq), el('td', {}, when(r.at)), el('td', {}, r.actor), el('td', {}, r.action),
        el('td', {}, r.deployment ?? ''), el('td', {}, r.object_type ? `${r.object_type} ${r.object_id}` : ''),
        el('td', {}, r.outcome),
        el('td', {}, el('dl', { class: 'facts details' },
          Object.entries(r.details).flatMap(([k, v]) => [el('dt', {}, label(k)), el('dd', {}, text(v))]))))),
      'No records match these filters.'));
    document.getElementById('tab-audit').dataset.ready = String(Date.now());
  }

  auditFilters.addEventListener('submit', (event) => {
    event.preventDefault();
    auditPage(0);
  });

  async function loadAudit() {
    if (!audit.verified) {
      audit.verified = true;
      await verifyChain();
    }
    await auditPage(0);
  }

  // --- data-subject requests ------------------------------------------------------------------------
  const KINDS = [['access', 'access (Art. 15)'], ['erasure', 'erasure (Art. 17)'],
    ['rectification', 'rectification (Art. 16)'], ['objection', 'objection (Art. 21)']];
  const requestForm = el('form', { id: 'request-form' },
    field('Kind', select('kind', KINDS, 'access')),
    field('Requester', input('requester', { required: true, placeholder: 'name and address to answer' })),
    field('Channel', input('channel', { placeholder: 'post, email, counter…' })),
    field('Identity check', input('identity_ref', { placeholder: 'reference of the check' })),
    field('What they ask', el('textarea', { name: 'details', rows: 2 }), true),
    field("Requester's photo (searched, kept encrypted until the request closes)", input('photo', { type: 'file', accept: 'image/*' }), true),
    el('button', { type: 'submit' }, 'Register'));
  section('requests', 'Data-subject requests',
    el('p', { class: 'muted' }, 'One month to answer, extendable by two with a reason. The search for a face ',
      'raises no alert; the photo and its template are deleted when the request closes.'),
    el('details', { id: 'new-request' }, el('summary', {}, 'Register a request'), requestForm),
    field('Show', select('request-status', [['pending', 'open and decided'], ['', 'all'], ['closed', 'closed']], 'pending')),
    el('div', { id: 'request-list' }));

  requestForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const form = event.target;
    const data = new FormData();
    for (const name of ['kind', 'requester', 'channel', 'identity_ref', 'details']) {
      data.append(name, form.elements.namedItem(name).value);
    }
    const photo = form.elements.namedItem('photo').files[0];
    if (photo) data.append('photo', photo);
    desk.attempt(async () => {
      const made = await api('POST', '/api/requests', data);
      form.reset();
      await loadRequests();
      return made;
    }, 'Request registered.');
  });
  document.querySelector('select[name=request-status]').addEventListener('change', () => loadRequests());

  async function loadRequests() {
    const status = document.querySelector('select[name=request-status]').value;
    const list = await desk.attempt(() => api('GET', `/api/requests${status ? `?status=${status}` : ''}`));
    if (!list) return;
    const node = document.getElementById('request-list');
    node.replaceChildren(...list.map(requestCard));
    if (!list.length) node.append(el('p', {}, 'No request.'));
    node.dataset.ready = String(Date.now());
  }

  function requestCard(r) {
    const act = (path, body, done) => desk.attempt(async () => {
      await api('POST', `/api/requests/${r.id}/${path}`, body);
      await loadRequests();
    }, done);
    const reason = input('reason', { placeholder: 'reason (in the letter)' });
    const ground = input('ground', { placeholder: 'legal ground of a refusal' });
    const note = input('note', { placeholder: 'note (in the letter)' });
    const months = select('months', [['1', '1 month'], ['2', '2 months']], '1');
    const open = r.status !== 'closed';
    const actions = [];
    if (open && r.has_photo) actions.push(el('button', { type: 'button', onclick: () => act('search', undefined, `Request ${r.id}: searched again.`) }, 'Search again'));
    if (open) actions.push(el('button', { type: 'button', onclick: () => act('extend', { reason: reason.value, months: Number(months.value) }, `Request ${r.id}: deadline extended.`) }, 'Extend'), months);
    if (r.status === 'open' && r.kind !== 'erasure') actions.push(el('button', { type: 'button', class: 'confirm', onclick: () => act('decide', { decision: 'grant', reason: reason.value }, `Request ${r.id} granted.`) }, 'Grant'));
    if (r.status === 'open' && r.kind === 'erasure') actions.push(el('button', { type: 'button', class: 'confirm', onclick: () => act('erase', { reason: reason.value }, `Request ${r.id}: erased.`) }, 'Erase'));
    if (r.status === 'open') actions.push(el('button', { type: 'button', class: 'reject', onclick: () => act('decide', { decision: 'refuse', reason: reason.value, ground: ground.value }, `Request ${r.id} refused.`) }, 'Refuse'));
    if (open) actions.push(el('button', { type: 'button', onclick: () => act('close', { note: note.value }, `Request ${r.id} closed: the photo and template are deleted.`) }, 'Close and answer'));
    const deleted = Object.entries(r.deleted || {}).filter(([k]) => !k.endsWith('_ids'));
    return el('article', { class: 'request', dataset: { request: r.id, status: r.status, outcome: r.outcome } },
      el('h3', {}, `Request ${r.id}: ${r.kind} `, el('span', { class: `status ${r.status}` }, r.outcome || r.status)),
      el('dl', { class: 'facts' },
        el('dt', {}, 'Requester'), el('dd', {}, r.requester),
        el('dt', {}, 'Received'), el('dd', {}, `${when(r.opened)} via ${r.channel || '—'}; identity check ${r.identity_ref || '—'}`),
        el('dt', {}, 'Due'), el('dd', { class: r.overdue ? 'error' : '' }, day(r.deadline), r.overdue ? ' (overdue)' : '',
          r.extension_reason ? ` — extended: ${r.extension_reason}` : ''),
        r.details ? [el('dt', {}, 'Asks'), el('dd', {}, r.details)] : null,
        r.reason ? [el('dt', {}, 'Decision'), el('dd', {}, `${r.reason}${r.legal_ground ? ` (ground: ${r.legal_ground})` : ''}`)] : null,
        r.searched && r.searched.at ? [el('dt', {}, 'Searched'), el('dd', {}, `${when(r.searched.at)}: ${r.searched.watchlists} watchlists, ${r.searched.evidence} evidence images`)] : null),
      r.searched && r.searched.at ? [
        el('h4', {}, 'On watchlists'),
        table(['watchlist', 'entry', 'category', 'legal basis', 'added', 'kept until', 'score'],
          r.found.map((f) => row(f.watchlist, f.subject ?? '(erased)', f.category, f.legal_basis, day(f.added), day(f.expires), f.score)),
          'Not on any watchlist.'),
        el('h4', {}, 'Alerts'),
        table(['alert', 'when', 'where', 'deployment', 'status', 'found by'],
          r.alerts.map((a) => row(a.id, when(a.time), a.place || 'still image search', `${a.deployment} ${a.deployment_name}`, a.status, a.basis)),
          'No alert within retention.'),
      ] : null,
      deleted.length ? el('p', { class: 'deleted' }, 'Deleted: ', deleted.map(([k, v]) => `${v} ${label(k)}`).join(', ')) : null,
      el('p', {}, 'Letter: ', el('a', { href: `/api/requests/${r.id}/letter?format=html`, target: '_blank', class: 'letter-html' }, 'HTML'), ' · ',
        el('a', { href: `/api/requests/${r.id}/letter?format=pdf`, class: 'letter-pdf' }, 'PDF')),
      actions.length ? el('div', { class: 'actions' }, reason, ground, note, ...actions) : null);
  }

  // --- complaints -----------------------------------------------------------------------------------
  section('complaints', 'Complaints from the public',
    field('Show', select('complaint-status', [['pending', 'waiting for an answer'], ['', 'all'], ['answered', 'answered']], 'pending')),
    el('div', { id: 'complaint-list' }));
  document.querySelector('select[name=complaint-status]').addEventListener('change', () => loadComplaints());

  async function loadComplaints() {
    const status = document.querySelector('select[name=complaint-status]').value;
    const list = await desk.attempt(() => api('GET', `/api/complaints${status ? `?status=${status}` : ''}`));
    if (!list) return;
    const node = document.getElementById('complaint-list');
    node.replaceChildren(...list.map(complaintCard));
    if (!list.length) node.append(el('p', {}, 'No complaint.'));
    node.dataset.ready = String(Date.now());
  }

  function complaintCard(c) {
    const act = (path, body, done) => desk.attempt(async () => {
      await api('POST', `/api/complaints/${c.id}/${path}`, body);
      await loadComplaints();
    }, done);
    const priority = select('priority', [['low', 'low'], ['normal', 'normal'], ['urgent', 'urgent']], c.priority || 'normal');
    const note = input('triage-note', { placeholder: 'triage note', value: c.triage_note });
    const deployment = input('deployment', { type: 'number', min: 1, placeholder: 'deployment', value: c.deployment ?? '' });
    const outcome = select('outcome', [['upheld', 'upheld'], ['partly-upheld', 'partly upheld'], ['not-upheld', 'not upheld'], ['referred', 'referred']], 'upheld');
    const answer = el('textarea', { name: 'answer', rows: 2, placeholder: 'the answer sent to the person' });
    const open = c.status !== 'answered';
    return el('article', { class: 'complaint', dataset: { complaint: c.id, status: c.status } },
      el('h3', {}, `Complaint ${c.id} `, el('span', { class: `status ${c.status}` }, c.outcome || c.status)),
      el('dl', { class: 'facts' },
        el('dt', {}, 'Received'), el('dd', {}, when(c.received)),
        el('dt', {}, 'What happened'), el('dd', { class: 'what' }, c.what),
        el('dt', {}, 'Where'), el('dd', {}, c.place || '—'),
        el('dt', {}, 'When'), el('dd', {}, c.when || '—'),
        el('dt', {}, 'Contact'), el('dd', {}, c.contact || 'none given'),
        c.priority ? [el('dt', {}, 'Priority'), el('dd', {}, `${c.priority}${c.triage_note ? ` — ${c.triage_note}` : ''}`)] : null,
        c.answer ? [el('dt', {}, 'Answer'), el('dd', {}, `${c.answer} (${when(c.answered)}, ${c.handled_by})`)] : null),
      c.has_attachment ? el('img', { src: `/api/complaints/${c.id}/attachment`, alt: `Image sent with complaint ${c.id}`, width: 320 }) : null,
      open ? el('div', { class: 'actions triage' }, priority, note, deployment, el('button', {
        type: 'button',
        onclick: () => act('triage', { priority: priority.value, note: note.value, deployment: deployment.value ? Number(deployment.value) : null }, `Complaint ${c.id} triaged.`),
      }, 'Triage')) : null,
      open ? el('div', { class: 'actions answer' }, outcome, answer, el('button', {
        type: 'button', class: 'confirm',
        onclick: () => act('answer', { outcome: outcome.value, answer: answer.value }, `Complaint ${c.id} answered.`),
      }, 'Answer')) : null);
  }

  // --- reports --------------------------------------------------------------------------------------
  const reportForm = el('form', { id: 'report-generate' },
    field('Report', select('kind', [['annual', 'annual report'], ['deployment', 'deployment record'],
      ['notification', 'notification to the authorities'], ['accountability', 'accountability report']], 'annual')),
    field('Deployment', input('deployment', { type: 'number', min: 1 })),
    field('From', input('from', { type: 'date' })),
    field('To', input('to', { type: 'date' })),
    field('Format', select('format', [['html', 'HTML'], ['pdf', 'PDF'], ['json', 'JSON (verifiable)'], ['csv', 'CSV']], 'pdf')),
    el('button', { type: 'submit' }, 'Generate and download'));
  const verifyForm = el('form', { id: 'report-verify' },
    field('A report\'s JSON', input('file', { type: 'file', accept: 'application/json,.json', required: true })),
    el('button', { type: 'submit' }, 'Verify'));
  section('accountability', 'Reports',
    el('p', { class: 'muted' }, 'Every report is recorded in the audit log with the hash of its JSON; verifying recomputes each figure from the records it names.'),
    reportForm, el('h3', {}, 'Verify a report'), verifyForm, el('div', { id: 'report-verdict', role: 'status' }));

  reportForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const form = event.target;
    const value = (name) => form.elements.namedItem(name).value;
    const params = new URLSearchParams({ format: value('format') });
    if (value('deployment')) params.set('deployment', value('deployment'));
    if (value('from')) params.set('from', value('from'));
    if (value('to')) params.set('to', value('to'));
    download(`/api/reports/${value('kind')}?${params.toString()}`);
    desk.flash('Report generated (recorded in the audit log).');
  });

  verifyForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const file = event.target.elements.namedItem('file').files[0];
    desk.attempt(async () => {
      // the file's own text: parsing and re-serialising in JavaScript would turn 1.0 into 1 and change the hash
      const verdict = await api('POST', '/api/reports/verify', await file.text(), 'application/json');
      const out = document.getElementById('report-verdict');
      out.dataset.ok = String(verdict.ok);
      out.replaceChildren(el('p', { class: verdict.ok ? 'ok' : 'error' },
        verdict.ok ? `Verified: the ${verdict.kind} report (sha256 ${verdict.sha256}) matches the audit log.`
          : `NOT verified: ${verdict.differences.length} differences.`),
      verdict.differences.length ? el('ul', {}, verdict.differences.map((d) => el('li', {}, d))) : null);
    });
  });

  // --- retention ------------------------------------------------------------------------------------
  section('retention', 'Retention',
    el('p', { class: 'muted' }, 'Deletes alerts, evidence, subjects and watchlists past their retention, and everything an urgent start produced if it lapsed. Preview first.'),
    el('p', { class: 'actions' },
      el('button', { type: 'button', id: 'retention-preview', onclick: () => retention('preview') }, 'Preview'),
      el('button', { type: 'button', id: 'retention-run', class: 'reject', disabled: true, onclick: () => retention('run') }, 'Run now')),
    el('div', { id: 'retention-result', role: 'status' }));

  async function retention(step) {
    const counts = await desk.attempt(() => (step === 'preview' ? api('GET', '/api/retention/preview') : api('POST', '/api/retention/run')));
    if (!counts) return;
    const title = step === 'preview' ? 'Would delete now' : 'Deleted';
    document.getElementById('retention-result').replaceChildren(el('h3', {}, title),
      table(['kind', 'count'], Object.entries(counts).map(([k, v]) => row(label(k), v))));
    document.getElementById('retention-run').disabled = step !== 'preview';
    document.getElementById('retention-result').dataset.step = step;
  }

  // --- users ----------------------------------------------------------------------------------------
  const ROLES = ['admin', 'authority', 'operator', 'reviewer', 'auditor', 'dpo'];
  const userForm = el('form', { id: 'user-form' },
    field('Name', input('name', { required: true, pattern: '[a-z0-9][a-z0-9._\\-]{0,63}' })),
    field('Role', select('role', ROLES.map((r) => [r, r]), 'reviewer')),
    el('button', { type: 'submit' }, 'Add user'));
  section('users', 'Users', el('div', { id: 'user-table' }), el('h3', {}, 'Add a user'), userForm,
    el('p', { id: 'token-once', class: 'notice', hidden: true }));

  function showToken(name, token) {
    const node = document.getElementById('token-once');
    node.replaceChildren(`${name}'s token (shown once, give it to them privately): `, el('code', {}, token));
    node.hidden = false;
  }

  async function loadUsers() {
    const users = await desk.attempt(() => api('GET', '/api/users'));
    if (!users) return;
    document.getElementById('user-table').replaceChildren(table(['name', 'role', 'created', 'state', ''],
      users.map((u) => {
        const reason = input('reason', { placeholder: 'reason' });
        return el('tr', { dataset: { user: u.name } }, el('td', {}, u.name), el('td', {}, u.role), el('td', {}, day(u.created)),
          el('td', {}, u.disabled ? 'disabled' : 'active'),
          el('td', {}, u.disabled ? '' : [
            el('button', { type: 'button', onclick: () => desk.attempt(async () => showToken(u.name, (await api('POST', `/api/users/${u.name}/token`)).token), `${u.name} has a new token; the old one stopped working.`) }, 'New token'),
            reason,
            el('button', { type: 'button', class: 'reject', onclick: () => desk.attempt(async () => { await api('POST', `/api/users/${u.name}/disable`, { reason: reason.value }); await loadUsers(); }, `${u.name} disabled.`) }, 'Disable')]));
      })));
  }

  userForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const form = event.target;
    const body = { name: form.elements.namedItem('name').value, role: form.elements.namedItem('role').value };
    desk.attempt(async () => {
      const made = await api('POST', '/api/users', body);
      showToken(made.name, made.token);
      form.reset();
      await loadUsers();
    }, `User ${body.name} added.`);
  });

  // --- role grants: the DPO's countersignature --------------------------------------------------------
  section('grants', 'Role grants', el('p', { class: 'muted' },
    'Authority, operator, reviewer and DPO accounts act only once a DPO countersigns them: a second person ' +
    'for every grant of power.'), el('div', { id: 'grant-table' }));

  async function loadGrants() {
    const pending = await desk.attempt(() => api('GET', '/api/users/pending'));
    if (!pending) return;
    document.getElementById('grant-table').replaceChildren(table(['name', 'role', 'person', 'asked', ''],
      pending.map((u) => el('tr', { dataset: { pending: u.name } }, el('td', {}, u.name), el('td', {}, u.role),
        el('td', {}, u.person), el('td', {}, day(u.created)),
        el('td', {}, el('button', { type: 'button', onclick: () => desk.attempt(async () => {
          await api('POST', `/api/users/${u.name}/approve`);
          await loadGrants();
        }, `${u.name} may now act as ${u.role}.`) }, 'Countersign')))), 'No account waits for a countersignature.'));
  }

  // --- watchlists -----------------------------------------------------------------------------------
  section('watchlists', 'Watchlists', el('p', { class: 'muted' }, 'Sizes, categories and expiry; who is on a watchlist is not shown here.'),
    el('div', { id: 'watchlist-table' }));

  async function loadWatchlists() {
    const lists = await desk.attempt(() => api('GET', '/api/watchlists'));
    if (!lists) return;
    document.getElementById('watchlist-table').replaceChildren(table(['watchlist', 'subjects', 'categories', 'expires', 'owner', 'purpose'],
      lists.map((w) => el('tr', { dataset: { watchlist: w.name } }, el('td', {}, w.name), el('td', { class: 'size' }, w.size),
        el('td', {}, w.categories.join(', ') || 'any'), el('td', {}, w.expires ? when(w.expires) : 'no expiry'),
        el('td', {}, w.owner), el('td', {}, w.purpose))), 'No watchlist.'));
  }

  // --- the tabs this file adds to the console ------------------------------------------------------
  const tab = (name, text, action, load) => ({ name, label: text, action, load: (context) => { desk = context; return load(); } });
  Overt.consoleTabs = [
    tab('requests', 'Subject requests', 'subject-request', loadRequests),
    tab('complaints', 'Complaints', 'complaint.manage', loadComplaints),
    tab('audit', 'Audit log', 'audit.read', loadAudit),
    tab('accountability', 'Reports', 'report.generate', async () => {}),
    tab('retention', 'Retention', 'retention.run', async () => {}),
    tab('users', 'Users', 'user.manage', loadUsers),
    tab('grants', 'Role grants', 'user.approve', loadGrants),
    tab('watchlists', 'Watchlists', 'watchlist.read', loadWatchlists),
  ];
})();
