/* The public's complaint form (the page itself is server-rendered and readable without script). */
'use strict';

(() => {
  const form = document.getElementById('complaint-form');
  const out = document.getElementById('complaint-status');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData();
    for (const name of ['what', 'place', 'when', 'contact']) data.append(name, form.elements.namedItem(name).value);
    const file = form.elements.namedItem('attachment').files[0];
    if (file) data.append('attachment', file);
    out.textContent = 'Sending…';
    try {
      const result = await Overt.api('POST', '/api/public/complaints', data);
      out.textContent = `Thank you: your complaint is number ${result.id}. Quote it if you write to us.`;
      out.dataset.complaint = result.id;
      form.reset();
    } catch (error) {
      out.textContent = `Not sent: ${error.message}`;
    }
  });
})();
