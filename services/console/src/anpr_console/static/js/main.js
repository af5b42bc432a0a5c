// The console's shell: sign-in, the pages the user's role has (and no other), the language, the router.
import { onSignedOut, request } from './api.js';
import { h } from './dom.js';
import { LANGUAGES, t, useLanguage, language } from './i18n.js';
import { renderSignIn } from './pages/signin.js';

const PAGES = {
  live: () => import('./pages/live.js'),
  search: () => import('./pages/search.js'),
  hotlists: () => import('./pages/hotlists.js'),
  cameras: () => import('./pages/cameras.js'),
  traffic: () => import('./pages/traffic.js'),
  dpo: () => import('./pages/dpo.js'),
  audit: () => import('./pages/audit.js'),
};

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const user = document.getElementById('user');
const state = { config: null, session: null, leave: null };

function announce(message) {
  const region = document.getElementById('announce');
  region.textContent = '';
  setTimeout(() => { region.textContent = message; }, 50);
}

function remembered(subject) {
  try {
    return window.localStorage.getItem(`schild.language.${subject}`);
  } catch {
    return null;
  }
}

function remember(subject, chosen) {
  try {
    window.localStorage.setItem(`schild.language.${subject}`, chosen);
  } catch {
    // private mode: the session cookie still carries the choice
  }
}

function languagePicker(onChange) {
  const picker = h('select', { id: 'language', 'aria-label': t('shell.language') },
    LANGUAGES.map((code) => h('option', { value: code, selected: code === language(), lang: code }, t(`language.${code}`))));
  picker.addEventListener('change', () => onChange(picker.value));
  return picker;
}

async function start() {
  state.config = await request('/console/v1/config');
  try {
    state.session = await request('/console/v1/session');
  } catch {
    state.session = null;
  }
  if (!state.session) {
    await useLanguage(browserLanguage());
    showSignIn();
    return;
  }
  const preferred = state.session.locale || remembered(state.session.subject);
  await useLanguage(preferred);
  showShell();
}

function browserLanguage() {
  for (const tag of navigator.languages || [navigator.language]) {
    const code = String(tag).slice(0, 2).toLowerCase();
    if (LANGUAGES.includes(code)) return code;
  }
  return 'nl';
}

function showSignIn() {
  if (state.leave) state.leave();
  nav.replaceChildren();
  user.replaceChildren(languagePicker(async (code) => {
    await useLanguage(code);
    showSignIn();
  }));
  const params = new URLSearchParams(window.location.search);
  renderSignIn(main, {
    config: state.config,
    error: params.get('sign_in_error'),
    signedIn: async (session) => {
      state.session = session;
      remember(session.subject, session.locale);
      window.history.replaceState(null, '', `/#/${session.pages[0] || ''}`);
      await useLanguage(session.locale);
      showShell();
    },
  });
  document.title = `${t('signin.title')} – Schild`;
}

function showShell() {
  const session = state.session;
  user.replaceChildren(
    h('span', { class: 'who' }, `${session.name} · ${t(`role.${session.role}`)} · ${t('shell.zone', { zone: session.zone_id })}`),
    languagePicker(async (code) => {
      state.session = await request('/console/v1/session/locale', { method: 'PUT', body: { locale: code } });
      remember(session.subject, code);
      await useLanguage(code);
      showShell();
      announce(t('shell.language_changed'));
    }),
    h('button', { type: 'button', class: 'link', onclick: signOut }, t('shell.sign_out')),
  );
  route();
}

async function signOut() {
  await request('/console/v1/sign-out', { method: 'POST' });
  state.session = null;
  window.history.replaceState(null, '', '/');
  showSignIn();
}

function renderNav(current) {
  nav.replaceChildren(h('ul', {}, state.session.pages.map((page) =>
    h('li', {}, h('a', { href: `#/${page}`, 'aria-current': page === current ? 'page' : null, 'data-page': page }, t(`page.${page}`))))));
}

async function route() {
  if (!state.session) return;
  if (state.leave) {
    state.leave();
    state.leave = null;
  }
  const wanted = window.location.hash.replace(/^#\/?/, '').split('?')[0] || state.session.pages[0];
  renderNav(wanted);
  if (!state.session.pages.includes(wanted) || !PAGES[wanted]) {
    // A page of another role is not drawn at all (and its APIs would refuse this token anyway).
    main.replaceChildren(h('h1', { tabindex: '-1' }, t('shell.not_for_role_title')), h('p', {}, t('shell.not_for_role')));
    main.querySelector('h1').focus();
    document.title = `${t('shell.not_for_role_title')} – Schild`;
    return;
  }
  const module = await PAGES[wanted]();
  main.replaceChildren();
  document.title = `${t(`page.${wanted}`)} – Schild`;
  const context = {
    session: state.session,
    config: state.config,
    announce,
    can: (action) => state.session.actions.includes(action),
  };
  state.leave = module.render(main, context) || null;
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus();
  }
}

onSignedOut(() => {
  state.session = null;
  showSignIn();
});
window.addEventListener('hashchange', route);
start();
