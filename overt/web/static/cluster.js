/* The console's cluster view: the machines (Ray nodes) and the cameras each runs, with fps, lag, restarts
 * and the last error; refreshed every 5 s while shown. Not in cluster mode it says so and shows this
 * server's own cameras. It adds a tab to the console (console.js shows it to roles that may read cameras). */
'use strict';

(() => {
  const { el, api } = Overt;
  const EVERY_MS = 5000;
  let timer = null;
  let desk = null; // { may, attempt, flash } from console.js

  const number = (value, digits) => (typeof value === 'number' ? value.toFixed(digits) : '—');
  const short = (id) => (id || '—').slice(0, 12);
  const table = (head, rows, empty) => el('table', {},
    el('thead', {}, el('tr', {}, head.map((h) => el('th', {}, h)))),
    el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: head.length }, empty))));

  document.getElementById('app').append(el('section', { id: 'tab-cluster', class: 'tab', hidden: true },
    el('h2', {}, 'Cluster'),
    el('p', { id: 'cluster-mode', class: 'muted', role: 'status' }),
    el('h3', {}, 'Machines'), el('div', { id: 'cluster-machines' }),
    el('h3', {}, 'Cameras'), el('div', { id: 'cluster-cameras' })));

  async function load() {
    const section = document.getElementById('tab-cluster');
    if (section.hidden) {
      clearInterval(timer);
      return;
    }
    const view = await desk.attempt(() => api('GET', '/api/cluster'));
    if (!view || section.hidden) return;
    section.dataset.mode = view.mode;
    document.getElementById('cluster-mode').textContent = view.mode === 'cluster'
      ? `Cluster mode: ${view.machines.filter((m) => m.alive).length} of ${view.machines.length} machines alive.`
      : view.note;
    document.getElementById('cluster-machines').replaceChildren(table(
      ['machine', 'address', 'alive', 'CPUs', 'sites', 'cameras'],
      view.machines.map((m) => el('tr', { dataset: { machine: m.id, alive: String(m.alive) } },
        el('td', {}, el('code', { title: m.id }, short(m.id))), el('td', {}, m.address),
        el('td', { class: m.alive ? '' : 'error' }, m.alive ? 'yes' : 'dead'), el('td', {}, String(m.cpus)),
        el('td', {}, m.sites.join(', ') || 'any'), el('td', {}, m.cameras.join(', ') || 'none'))),
      'No machine.'));
    document.getElementById('cluster-cameras').replaceChildren(table(
      ['camera', 'deployment', 'machine', 'state', 'fps', 'lag s', 'restarts', 'last error'],
      view.cameras.map((c) => el('tr', { dataset: { camera: c.camera, state: c.state || '' } },
        el('td', {}, el('code', {}, c.camera)), el('td', {}, c.deployment ?? '—'),
        el('td', {}, el('code', { title: c.machine || '' }, short(c.machine))),
        el('td', { class: `state ${c.state || ''}` }, c.state || '—'), el('td', {}, number(c.fps_out, 1)),
        el('td', {}, number(c.lag_s, 2)), el('td', {}, String(c.restarts)),
        el('td', { class: 'error' }, c.last_error || ''))),
      'No camera running.'));
  }

  Overt.consoleTabs = [...(Overt.consoleTabs || []), {
    name: 'cluster',
    label: 'Cluster',
    action: 'camera.read',
    load: (context) => {
      desk = context;
      clearInterval(timer);
      timer = setInterval(load, EVERY_MS);
      return load();
    },
  }];
})();
