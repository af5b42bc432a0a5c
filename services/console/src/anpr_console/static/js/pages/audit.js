// Audit: the chain's state (verify: the database against the signed checkpoints and the anchors
// kept outside it), the events with filters, and the export the COC verifies offline.
import { api, apiUrl, problemBox } from '../api.js';
import { field, formValues, h, isoFromLocal, localInput, select } from '../dom.js';
import { dateTime, number, t, term } from '../i18n.js';

export function render(main, { can }) {
  const verifyBox = h('div', { 'aria-live': 'polite' });
  const events = h('section', { 'aria-labelledby': 'events-title' });
  main.append(h('h1', {}, t('page.audit')));
  if (can('verify_audit')) {
    main.append(h('section', { class: 'card', 'aria-labelledby': 'verify-title' },
      h('h2', { id: 'verify-title' }, t('audit.verify_title')),
      h('p', { class: 'hint' }, t('audit.verify_hint')),
      h('button', { type: 'button', class: 'primary', onclick: verify }, t('audit.verify')),
      verifyBox));
  }
  if (can('read_audit')) {
    main.append(events, exportForm());
    eventsForm();
  }

  async function verify() {
    verifyBox.replaceChildren(h('p', { class: 'hint' }, t('audit.verifying')));
    try {
      const result = await api('audit', 'verify');
      verifyBox.replaceChildren(h('p', { class: result.valid ? 'ok verdict' : 'problem verdict', role: 'status' },
        result.valid ? t('audit.valid', { rows: result.rows_checked, checkpoints: result.checkpoints_checked })
          : t('audit.broken', { seq: result.first_broken_seq, reason: result.reason })),
      h('p', { class: 'hint mono' }, t('audit.head', { seq: result.head_seq, hash: result.head_hash.slice(0, 16) })));
    } catch (error) {
      verifyBox.replaceChildren(problemBox(error));
    }
  }

  function eventsForm() {
    const body = h('tbody');
    const outcome = h('div', { 'aria-live': 'polite' });
    const form = h('form', { class: 'inline', role: 'search' },
      field(t('audit.actor'), h('input', { name: 'actor', maxlength: '100' })),
      field(t('audit.action'), h('input', { name: 'action', maxlength: '64', list: 'audit-actions' })),
      h('datalist', { id: 'audit-actions' }, ['search', 'view_image', 'view_hits', 'hit_ack', 'hotlist_change', 'export', 'dpo_requests', 'dpo_decision', 'erasure', 'verify', 'refused'].map((a) => h('option', { value: a }))),
      field(t('search.case_reference'), h('input', { name: 'case_reference', maxlength: '100' })),
      field(t('search.since'), h('input', { type: 'datetime-local', name: 'since' })),
      field(t('search.until'), h('input', { type: 'datetime-local', name: 'until' })),
      field(t('audit.limit'), select('limit', [['100', number(100)], ['500', number(500)], ['1000', number(1000)]], '100')),
      h('button', { type: 'submit', class: 'primary' }, t('audit.show')));
    events.replaceChildren(h('h2', { id: 'events-title' }, t('audit.events')), form, outcome,
      h('table', { class: 'events' },
        h('thead', {}, h('tr', {}, ['audit.seq', 'live.time', 'audit.actor', 'audit.role', 'audit.action', 'audit.service', 'audit.outcome', 'search.case_reference']
          .map((k) => h('th', { scope: 'col' }, t(k))))), body));
    const load = async () => {
      const values = formValues(form);
      try {
        const found = await api('audit', 'events', { query: { ...values, since: isoFromLocal(values.since), until: isoFromLocal(values.until) } });
        outcome.replaceChildren(h('p', { class: 'counts' }, t('audit.count', { count: found.length })));
        body.replaceChildren(...found.map((e) => h('tr', {},
          h('td', { class: 'num' }, String(e.seq)), h('td', {}, dateTime(e.occurred_at)), h('td', {}, e.actor_user),
          h('td', {}, term('role', e.actor_role)), h('td', {}, e.action), h('td', {}, e.service), h('td', {}, e.outcome), h('td', {}, e.case_reference))));
      } catch (error) {
        outcome.replaceChildren(problemBox(error));
      }
    };
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      load();
    });
    load();
  }

  function exportForm() {
    const now = new Date();
    const link = h('a', { class: 'button', download: '' }, t('audit.download'));
    const form = h('form', { class: 'inline card', 'aria-labelledby': 'export-title' },
      h('h2', { id: 'export-title' }, t('audit.export_title')),
      h('p', { class: 'hint' }, t('audit.export_hint')),
      field(t('search.since'), h('input', { type: 'datetime-local', name: 'from', value: localInput(new Date(now.getTime() - 30 * 86400_000)) })),
      field(t('search.until'), h('input', { type: 'datetime-local', name: 'to', value: localInput(new Date(now.getTime() + 3600_000)) })),
      field(t('audit.format'), select('format', [['jsonl', t('audit.jsonl')], ['csv', 'CSV']], 'jsonl')),
      link);
    const update = () => {
      const values = formValues(form);
      link.href = apiUrl('audit', 'export', { from: isoFromLocal(values.from), to: isoFromLocal(values.to), format: values.format });
    };
    form.addEventListener('input', update);
    update();
    return form;
  }
}
