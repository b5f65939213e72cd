/* The public site's audit-log section: the newest signed tree head, for witnesses to keep. */
'use strict';

(() => {
  async function show() {
    for (const node of document.querySelectorAll('.site-url')) node.textContent = window.location.origin;
    let head;
    try {
      head = await Overt.api('GET', '/api/public/audit/head');
    } catch (error) {
      document.querySelector('[data-head="size"]').textContent = 'no signed head yet';
      return;
    }
    for (const node of document.querySelectorAll('[data-head]')) node.textContent = String(head[node.dataset.head]);
    document.getElementById('audit-head').dataset.loaded = 'true';
  }
  document.addEventListener('DOMContentLoaded', show);
})();
