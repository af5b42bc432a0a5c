// The services' REST APIs, through the console's pass-through: the session cookie carries the user's
// token, which the page never sees; the service decides and audits as it would for curl.
import { h } from './dom.js';
import { t } from './i18n.js';

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

let signedOut = () => {};
export function onSignedOut(handler) {
  signedOut = handler;
}

export function apiUrl(service, path, query = {}) {
  const url = new URL(`/console/api/${service}/v1/${path}`, window.location.origin);
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    url.searchParams.set(key, String(value));
  }
  return url.pathname + url.search;
}

export async function request(url, { method = 'GET', body, headers = {}, raw = false } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json', ...headers } };
  if (method !== 'GET') init.headers['X-Schild-Console'] = '1';
  if (body !== undefined) {
    if (typeof body === 'string' || body instanceof Blob) init.body = body;
    else {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
  }
  let answer;
  try {
    answer = await fetch(url, init);
  } catch (error) {
    throw new ApiError(0, { title: 'network', detail: String(error) });
  }
  if (!answer.ok) {
    let problem = {};
    try {
      problem = await answer.json();
    } catch {
      problem = { title: answer.statusText };
    }
    if (answer.status === 401 && url.startsWith('/console/api/')) signedOut();
    throw new ApiError(answer.status, problem);
  }
  if (raw) return answer;
  if (answer.status === 204) return null;
  const type = answer.headers.get('content-type') || '';
  return type.includes('json') ? answer.json() : answer.text();
}

export function api(service, path, { query, ...options } = {}) {
  return request(apiUrl(service, path, query), options);
}

// A refusal as the user reads it: what happened, in their language, then the service's own reason.
export function problemBox(error) {
  const status = error instanceof ApiError ? error.status : 0;
  const heading = {
    0: 'problem.network',
    400: 'problem.invalid',
    401: 'problem.unauthorized',
    403: 'problem.forbidden',
    404: 'problem.not_found',
    409: 'problem.conflict',
    413: 'problem.too_large',
    422: 'problem.invalid',
    503: 'problem.unavailable',
  }[status] || 'problem.other';
  const problem = error instanceof ApiError ? error.problem : {};
  const details = (problem.errors || []).map((e) =>
    h('li', {}, `${(e.loc || []).filter((p) => p !== 'query' && p !== 'body').join('.') || (e.line ? t('hotlists.line', { line: e.line }) : '')} ${e.msg || e.reason || ''}`.trim()),
  );
  return h('div', { class: 'problem', role: 'alert' },
    h('strong', {}, t(heading)),
    h('p', { class: 'detail' }, error.message),
    details.length ? h('ul', {}, details) : null,
  );
}
