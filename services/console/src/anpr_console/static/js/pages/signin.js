// Sign-in: the zone's identity provider (OIDC, PKCE); in development also a role picked here, for a
// token of the development issuer (the console refuses that in production).
import { problemBox, request } from '../api.js';
import { formValues, h } from '../dom.js';
import { t } from '../i18n.js';

export function renderSignIn(main, { config, error, signedIn }) {
  const parts = [h('h1', { tabindex: '-1' }, t('signin.title')), h('p', {}, t('signin.intro'))];
  if (error) parts.push(h('div', { class: 'problem', role: 'alert' }, h('strong', {}, t('signin.failed')), h('p', {}, error)));
  if (config.oidc_sign_in) {
    parts.push(h('p', {}, h('a', { class: 'button primary', href: '/console/v1/sign-in/oidc' }, t('signin.oidc'))));
  }
  if (config.dev_sign_in) {
    const outcome = h('div', { 'aria-live': 'polite' });
    const form = h('form', { class: 'card', 'aria-labelledby': 'dev-title' },
      h('h2', { id: 'dev-title' }, t('signin.dev_title')),
      h('p', { class: 'hint' }, t('signin.dev_hint')),
      h('fieldset', {},
        h('legend', {}, t('signin.role')),
        config.roles.map((role, n) => h('div', { class: 'choice' },
          h('input', { type: 'radio', name: 'role', id: `role-${role}`, value: role, checked: n === 0 }),
          h('label', { for: `role-${role}` }, t(`role.${role}`), ' ', h('small', {}, t(`role_hint.${role}`)))))),
      h('div', { class: 'field' },
        h('label', { for: 'dev-subject' }, t('signin.subject')),
        h('input', { id: 'dev-subject', name: 'subject', autocomplete: 'username', pattern: '[A-Za-z0-9._@\\-]*', maxlength: '100' })),
      h('button', { type: 'submit', class: 'primary' }, t('signin.submit')),
      outcome,
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const values = formValues(form);
      outcome.replaceChildren();
      try {
        const session = await request('/console/v1/sign-in/dev', {
          method: 'POST',
          body: { role: values.role, subject: values.subject, locale: document.documentElement.lang },
        });
        await signedIn(session);
      } catch (failure) {
        outcome.replaceChildren(problemBox(failure));
      }
    });
    parts.push(form);
  }
  if (!config.oidc_sign_in && !config.dev_sign_in) parts.push(h('p', { role: 'alert' }, t('signin.none')));
  main.replaceChildren(...parts);
  main.querySelector('h1').focus();
}
