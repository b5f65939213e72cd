/* The public transparency site: the camera map and list, deployment records, and camera reports. */
'use strict';

(() => {
  const { el, api, when } = Overt;
  const COUNTS = [
    ['faces_seen', 'faces seen'],
    ['searches', 'searches of stills'],
    ['alerts', 'alerts (possible matches)'],
    ['confirmed_matches', 'confirmed matches'],
    ['false_alerts', 'false alerts'],
    ['inconclusive', 'inconclusive'],
    ['outcomes', 'outcomes recorded'],
  ];
  let map = null;

  function status(text) {
    const node = document.getElementById('map-status');
    node.textContent = text;
    node.hidden = !text;
  }

  /** Natural Earth country outlines shipped with Overt: a map that works with no tile server at all. */
  async function basemap(target) {
    const world = await api('GET', '/static/vendor/world-110m.geojson');
    const layer = L.geoJSON(typeof world === 'string' ? JSON.parse(world) : world, {
      style: { color: '#8a97a6', weight: 1, fillColor: '#ffffff', fillOpacity: 1 },
      interactive: false,
      attribution: 'Country outlines: Natural Earth (public domain)',
    });
    layer.addTo(target);
    layer.bringToBack();
    document.getElementById('map').dataset.basemap = String(layer.getLayers().length);
  }

  function setupMap(info) {
    if (!window.L) {
      status('The map could not load; every camera is listed below.');
      return;
    }
    map = L.map('map', { attributionControl: true }).setView([20, 0], 2);
    basemap(map).catch(() => status('The country outlines could not load; every camera is listed below.'));
    if (!info.tile_url) {
      status('This map is drawn from country outlines shipped with Overt (no tiles are fetched from elsewhere); every camera is listed below.');
    } else {
      let failed = 0;
      const layer = L.tileLayer(info.tile_url, { maxZoom: 19, attribution: info.tile_attribution });
      layer.on('tileerror', () => {
        failed += 1;
        if (failed === 1) status('Map tiles could not load (offline?): the country outlines remain; every camera is listed below.');
      });
      layer.addTo(map);
    }
    map.on('click', (event) => {
      const form = document.getElementById('report-form');
      form.lat.value = event.latlng.lat.toFixed(6);
      form.lon.value = event.latlng.lng.toFixed(6);
    });
  }

  /** The server's own OpenStreetMap tagging (the GeoJSON export), shown as key=value lines. */
  function osmTags(properties) {
    return Object.entries(properties || {})
      .filter(([key]) => !['name', 'description', 'ref'].includes(key))
      .map(([key, value]) => `${key}=${value}`).join('\n');
  }

  async function loadCameras() {
    const [cameras, geojson] = await Promise.all([
      api('GET', '/api/public/cameras'), api('GET', '/api/public/cameras.geojson')]);
    const tags = new Map(geojson.features.map((f) => [f.properties.ref, f.properties]));
    const body = document.querySelector('#camera-table tbody');
    body.replaceChildren(...cameras.map((c) => el('tr', { dataset: { camera: c.id } },
      el('td', {}, el('strong', {}, c.name || c.id), el('br'), el('code', {}, c.id)),
      el('td', {}, c.lat === null ? 'not given' : `${c.lat.toFixed(5)}, ${c.lon.toFixed(5)}`, c.zone ? ` (${c.zone})` : ''),
      el('td', {}, c.direction === null ? '' : `${Math.round(c.direction)}°`),
      el('td', {}, c.operator),
      el('td', {}, c.public_notice),
      el('td', {}, el('pre', { class: 'tags' }, osmTags(tags.get(c.id)))),
    )));
    if (!cameras.length) body.append(el('tr', {}, el('td', { colspan: 6 }, 'No cameras are registered.')));
    if (!map) return;
    const placed = cameras.filter((c) => c.lat !== null && c.lon !== null);
    for (const c of placed) {
      L.circleMarker([c.lat, c.lon], { radius: 8, color: '#b00020', weight: 2, fillOpacity: 0.6 })
        .bindPopup(el('div', {}, el('strong', {}, c.name || c.id), el('p', {}, c.public_notice)))
        .addTo(map);
    }
    if (placed.length) map.fitBounds(L.latLngBounds(placed.map((c) => [c.lat, c.lon])).pad(0.5), { maxZoom: 16 });
  }

  function deploymentCard(d) {
    const windows = d.windows.map((w) => `${when(w.start)} – ${when(w.end)}`);
    const places = d.places.map((p) => `${p.name || p.camera}${p.zone ? ` (${p.zone})` : ''}`);
    return el('article', { class: 'deployment', dataset: { deployment: d.id } },
      el('h3', {}, d.name, ' ', el('span', { class: `status ${d.status}` }, d.status)),
      el('p', {}, d.public_notice),
      el('dl', { class: 'facts' },
        el('dt', {}, 'Purpose'), el('dd', {}, d.purpose),
        el('dt', {}, 'Legal basis'), el('dd', {}, d.legal_basis),
        el('dt', {}, 'Mode'), el('dd', {}, d.mode === 'live' ? 'live cameras' : 'searches of still images'),
        el('dt', {}, 'When'), el('dd', {}, windows.join('; ')),
        el('dt', {}, 'Where'), el('dd', {}, places.join('; ') || '—'),
        el('dt', {}, 'Approved'), el('dd', {}, d.approved ? when(d.approved) : d.urgent_started ? `urgent start ${when(d.urgent_started)}` : '—'),
        d.ended ? [el('dt', {}, 'Ended'), el('dd', {}, when(d.ended))] : null,
        el('dt', {}, 'Watchlist size'), el('dd', { dataset: { count: 'watchlist_size' } }, `${d.watchlist_size} (at most ${d.max_watchlist_size})`),
        el('dt', {}, 'Reviewers per alert'), el('dd', {}, d.reviewers_required),
      ),
      el('ul', { class: 'counts' }, COUNTS.map(([key, label]) =>
        el('li', {}, el('span', { class: 'count', dataset: { count: key } }, d[key]), ' ', label))),
      el('p', {}, el('a', { href: `/deployments/${d.id}`, class: 'record' }, 'The full public record'),
        ' (purpose, authority, assessments, every figure; ',
        el('a', { href: `/api/public/deployments/${d.id}/record` }, 'as JSON'), ' with the audit records each was computed from)'),
    );
  }

  async function loadDeployments() {
    const records = await api('GET', '/api/public/deployments');
    const list = document.getElementById('deployment-list');
    list.replaceChildren(...records.map(deploymentCard));
    if (!records.length) list.append(el('p', {}, 'No deployment has been authorised.'));
  }

  function setupReport(info) {
    const form = document.getElementById('report-form');
    const out = document.getElementById('report-status');
    document.getElementById('locate').addEventListener('click', () => {
      if (!navigator.geolocation) return;
      navigator.geolocation.getCurrentPosition((p) => {
        form.lat.value = p.coords.latitude.toFixed(6);
        form.lon.value = p.coords.longitude.toFixed(6);
      });
    });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const photo = form.photo.files[0];
      if (photo && photo.size > info.max_report_bytes) {
        out.textContent = `The photo is too large (at most ${Math.floor(info.max_report_bytes / 1048576)} MB).`;
        return;
      }
      const data = new FormData();
      data.append('lat', form.lat.value);
      data.append('lon', form.lon.value);
      data.append('note', form.note.value);
      if (photo) data.append('photo', photo);
      out.textContent = 'Sending…';
      try {
        const result = await api('POST', '/api/public/camera-reports', data);
        out.textContent = `Thank you: report ${result.id} is waiting to be checked.`;
        form.reset();
      } catch (error) {
        out.textContent = `Not sent: ${error.message}`;
      }
    });
  }

  async function start() {
    const info = await api('GET', '/api/public/info');
    document.getElementById('demo-banner').hidden = !info.demo;
    setupMap(info);
    setupReport(info);
    await Promise.all([loadCameras(), loadDeployments()]);
    document.body.dataset.ready = 'true';
    setInterval(() => loadDeployments().catch(() => {}), 60000);
  }

  start().catch((error) => status(`This page could not load its data: ${error.message}`));
})();
