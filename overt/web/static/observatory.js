/* The observatory: the deployments index on a map and in a table, its aggregates, and the camera map. */
'use strict';

(() => {
  const { el, api } = Overt;
  const API = '/api/public/observatory';
  const maps = {};

  function status(text) {
    const node = document.getElementById('obs-map-status');
    node.textContent = text;
    node.hidden = !text;
  }

  function makeMap(id, info) {
    if (!window.L) {
      status('The maps could not load; every record is listed below.');
      return null;
    }
    const map = L.map(id, { attributionControl: true }).setView([20, 0], 2);
    if (info.tile_url) {
      L.tileLayer(info.tile_url, { maxZoom: 19, attribution: info.tile_attribution }).addTo(map);
    } else {
      status('No map tiles are configured on this server (none are fetched from elsewhere); markers are shown on a blank map.');
    }
    maps[id] = { map, layer: L.layerGroup().addTo(map) };
    return maps[id];
  }

  function where(r) {
    return [r.city, r.region, r.country].filter(Boolean).join(', ');
  }

  function sources(r) {
    return el('ul', { class: 'sources' }, r.sources.map((s, n) => el('li', {},
      s.url ? el('a', { href: s.url, rel: 'noopener noreferrer nofollow' }, s.title || `source ${n + 1}`) : (s.title || ''),
      s.archive_url ? [' (', el('a', { href: s.archive_url, rel: 'noopener noreferrer nofollow' }, 'archive'), ')'] : null,
      s.date ? ` ${s.date}` : null)));
  }

  function review(r) {
    const by = r.review.signed_off_by;
    return by.length
      ? el('span', { class: 'reviewed' }, `v${r.review.version} signed off by ${by.join(', ')}`)
      : el('span', { class: 'unreviewed' }, `v${r.review.version} not yet reviewed`);
  }

  function row(r) {
    return el('tr', { dataset: { record: r.id } },
      el('td', {}, where(r)),
      el('td', {}, r.agency, r.purpose ? el('div', { class: 'muted' }, r.purpose) : null),
      el('td', {}, [r.vendor, r.product].filter(Boolean).join(' · ')),
      el('td', { dataset: { field: 'technology' } }, r.technology.join(', ')),
      el('td', { dataset: { field: 'status' } }, r.status),
      el('td', {}, [r.start_date, r.end_date].filter(Boolean).join(' – ')),
      el('td', {}, r.confidence),
      el('td', {}, sources(r)),
      el('td', { dataset: { field: 'review' } }, review(r)));
  }

  async function loadIndex() {
    const reviewed = document.getElementById('reviewed-only').checked;
    const records = await api('GET', `${API}/deployments${reviewed ? '?reviewed=true' : ''}`);
    document.querySelector('#obs-table tbody').replaceChildren(...records.map(row));
    document.getElementById('obs-empty').hidden = records.length > 0;
    const target = maps['obs-map'];
    if (target) {
      target.layer.clearLayers();
      const placed = records.filter((r) => r.latitude !== null && r.longitude !== null);
      for (const r of placed) {
        L.circleMarker([r.latitude, r.longitude], { radius: 7, color: '#6a1b9a', weight: 2, fillOpacity: 0.6 })
          .bindPopup(`${where(r)}: ${r.agency} (${r.vendor || 'vendor unknown'})`)
          .addTo(target.layer);
      }
      if (placed.length) target.map.fitBounds(L.latLngBounds(placed.map((r) => [r.latitude, r.longitude])).pad(0.3));
    }
  }

  async function loadHead() {
    const head = await api('GET', `${API}/head`);
    const node = document.getElementById('obs-head');
    node.textContent = `${head.changes} changes, ${head.sha256}`;
    node.dataset.sha256 = head.sha256;
  }

  async function loadAggregates() {
    const views = await api('GET', `${API}/aggregates`);
    for (const key of ['country', 'vendor', 'year']) {
      document.querySelector(`#agg-${key} tbody`).replaceChildren(...views[key].map((item) =>
        el('tr', { dataset: { [key]: item[key] } }, el('td', {}, item[key]), el('td', { class: 'count' }, item.deployments))));
    }
  }

  async function loadCameras() {
    const [geojson, coverage] = await Promise.all([api('GET', `${API}/cameras.geojson`), api('GET', `${API}/coverage`)]);
    const target = maps['cam-map'];
    if (target && geojson.features.length) {
      const layer = L.geoJSON(geojson, {
        pointToLayer: (feature, latlng) => L.circleMarker(latlng, {
          radius: 4, weight: 1, color: feature.properties.origin === 'report' ? '#e65100' : '#b00020', fillOpacity: 0.7,
        }),
      }).addTo(target.layer);
      target.map.fitBounds(layer.getBounds().pad(0.2));
    }
    const densest = coverage.cells[0];
    document.getElementById('cam-summary').textContent = coverage.cameras
      ? `${coverage.cameras} cameras in ${coverage.cells.length} cells of ${coverage.cell_km} km; the densest has ${densest.cameras}.`
      : 'No cameras imported yet.';
    document.getElementById('cam-summary').dataset.cameras = String(coverage.cameras);
  }

  async function start() {
    const info = await api('GET', '/api/public/info');
    makeMap('obs-map', info);
    makeMap('cam-map', info);
    document.getElementById('reviewed-only').addEventListener('change', () => {
      document.body.dataset.ready = 'false';
      loadIndex().then(() => { document.body.dataset.ready = 'true'; });
    });
    await Promise.all([loadIndex(), loadAggregates(), loadCameras(), loadHead()]);
    document.body.dataset.ready = 'true';
  }

  document.addEventListener('DOMContentLoaded', () => {
    start().catch((error) => status(`The observatory could not load: ${error.message}`));
  });
})();
