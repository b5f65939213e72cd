/* Shared by the console and the public site: DOM building without innerHTML, and JSON calls. */
'use strict';

const Overt = (() => {
  /** el('p', {class: 'x', onclick: f}, 'text', child): children are text or nodes, never HTML. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function cookie(name) {
    const found = document.cookie.split('; ').find((c) => c.startsWith(name + '='));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : '';
  }

  class ApiError extends Error {
    constructor(status, rule, message) {
      super(message);
      this.status = status;
      this.rule = rule;
    }
  }

  /** A call to the API; writes carry the session's CSRF token; errors become ApiError(rule, message). */
  async function api(method, path, body, contentType) {
    const headers = { Accept: 'application/json' };
    if (method !== 'GET') headers['X-CSRF-Token'] = cookie('overt_csrf');
    let payload = body;
    if (body !== undefined && !(body instanceof FormData)) {
      headers['Content-Type'] = contentType || 'application/json';
      payload = contentType ? body : JSON.stringify(body);
    }
    const response = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
    if (response.status === 204) return null;
    const type = response.headers.get('content-type') || '';
    const data = type.includes('json') ? await response.json() : await response.text();
    if (!response.ok) {
      const error = (data && data.error) || { rule: 'http', message: `${response.status}` };
      throw new ApiError(response.status, error.rule, error.message);
    }
    return data;
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString() : '';
  }

  return { el, api, cookie, when, ApiError };
})();
