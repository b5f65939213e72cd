/* Swagger UI over /openapi.json, from the vendored bundle; no validator badge (it would call out).
 * Logged in to the console? "Try it out" then uses that session, with its CSRF token. */
'use strict';

window.addEventListener('DOMContentLoaded', () => {
  window.SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    validatorUrl: null,
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    requestInterceptor: (request) => {
      const csrf = document.cookie.split('; ').find((c) => c.startsWith('overt_csrf='));
      if (csrf) request.headers['X-CSRF-Token'] = decodeURIComponent(csrf.slice('overt_csrf='.length));
      return request;
    },
  });
});
