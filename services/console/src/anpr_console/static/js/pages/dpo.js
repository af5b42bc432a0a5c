// DPO: data subjects' requests, from registration to the answer: locate the records (whole
// passages), decide with reasons, execute (the export for an access request), close.
import { api, problemBox } from '../api.js';
import { download, field, formValues, h, isoFromLocal, localInput, select } from '../dom.js';
import { dateOnly, dateTime, number, t, term } from '../i18n.js';

export function render(main, { announce }) {
  const queue = h('section', { 'aria-labelledby': 'queue-title' });
  const detail = h('section', { class: 'detail', 'aria-labelledby': 'request-title', hidden: true });
  let overdueOnly = false;
  main.append(h('h1', {}, t('page.dpo')), h('div', { class: 'columns' }, h('div', { class: 'wide' }, queue, registerForm()), h('div', { class: 'side' }, detail)));

  async function load() {
    let requests;
    try {
      requests = await api('access', 'dpo/requests', { query: { overdue: overdueOnly ? 'true' : '' } });
    } catch (error) {
      queue.replaceChildren(problemBox(error));
      return;
    }
    const toggle = h('input', { type: 'checkbox', id: 'overdue', checked: overdueOnly });
    toggle.addEventListener('change', () => { overdueOnly = toggle.checked; load(); });
    queue.replaceChildren(h('h2', { id: 'queue-title' }, t('dpo.queue')),
      h('div', { class: 'choice' }, toggle, h('label', { for: 'overdue' }, t('dpo.overdue_only'))),
      h('table', {},
        h('thead', {}, h('tr', {}, ['dpo.kind', 'dpo.requester', 'search.plate', 'dpo.state', 'dpo.registered', 'dpo.deadline'].map((k) => h('th', { scope: 'col' }, t(k))))),
        h('tbody', {}, requests.map((r) => h('tr', { class: r.overdue ? 'overdue' : '' },
          h('td', {}, term('request_kind', r.kind)),
          h('th', { scope: 'row' }, h('button', { type: 'button', class: 'link', onclick: () => show(r) }, r.requester)),
          h('td', { class: 'plate' }, r.plate),
          h('td', {}, term('request_state', r.state)),
          h('td', {}, dateTime(r.registered_at)),
          h('td', {}, dateOnly(r.deadline), r.overdue ? h('strong', { class: 'warn' }, ` · ${t('dpo.overdue')}`) : ''))))),
      requests.length ? '' : h('p', {}, t('dpo.empty')));
  }

  function step(label, run) {
    return h('button', { type: 'button', class: 'primary', onclick: run }, label);
  }

  function show(request) {
    const outcome = h('div', { 'aria-live': 'polite' });
    const act = async (path, body, done) => {
      try {
        const answer = await api('access', `dpo/requests/${encodeURIComponent(request.request_id)}/${path}`, { method: 'POST', body, raw: true });
        if ((answer.headers.get('content-type') || '').includes('zip')) {
          download(await answer.blob(), `dpo-${request.request_id}.zip`);
          announce(t('dpo.exported'));
          const fresh = await api('access', `dpo/requests/${encodeURIComponent(request.request_id)}`);
          show(fresh);
        } else show(await answer.json());
        if (done) announce(done);
        load();
      } catch (error) {
        outcome.replaceChildren(problemBox(error));
      }
    };
    const parts = [
      h('h2', { id: 'request-title', tabindex: '-1' }, t('dpo.request_title', { kind: term('request_kind', request.kind), plate: request.plate })),
      h('dl', {},
        h('dt', {}, t('dpo.state')), h('dd', { class: 'state' }, term('request_state', request.state)),
        h('dt', {}, t('dpo.requester')), h('dd', {}, request.requester),
        h('dt', {}, t('dpo.period')), h('dd', {}, `${dateTime(request.since)} – ${dateTime(request.until)}`),
        h('dt', {}, t('dpo.place')), h('dd', {}, request.place || request.camera_id || '–'),
        h('dt', {}, t('dpo.deadline')), h('dd', {}, dateOnly(request.deadline)),
        h('dt', {}, t('dpo.located')), h('dd', {}, number(request.located_ids.length)),
        request.decision ? [h('dt', {}, t('dpo.decision')), h('dd', {}, `${term('decision', request.decision)}: ${request.decision_reasons}`)] : null,
        request.outcome ? [h('dt', {}, t('dpo.outcome')), h('dd', {}, request.outcome)] : null),
    ];
    if (request.state === 'registered') parts.push(step(t('dpo.locate'), () => act('locate', undefined, t('dpo.located_announce'))));
    if (request.state === 'located') {
      const form = h('form', { class: 'card' },
        h('fieldset', {}, h('legend', {}, t('dpo.decision')),
          ['grant', 'partial', 'refuse'].map((d, n) => h('div', { class: 'choice' },
            h('input', { type: 'radio', name: 'decision', id: `decision-${d}`, value: d, checked: n === 0 }),
            h('label', { for: `decision-${d}` }, term('decision', d))))),
        request.located_ids.length ? h('fieldset', {}, h('legend', {}, t('dpo.records')),
          request.located_ids.map((id) => h('div', { class: 'choice' },
            h('input', { type: 'checkbox', name: 'record_ids', id: `rec-${id}`, value: id }), h('label', { for: `rec-${id}` }, id)))) : null,
        field(t('dpo.reasons'), h('textarea', { name: 'reasons', required: true, rows: '3', maxlength: '4000' })),
        h('button', { type: 'submit', class: 'primary' }, t('dpo.decide')));
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        const data = new FormData(form);
        const body = { decision: data.get('decision'), reasons: String(data.get('reasons') || '').trim() };
        if (body.decision === 'partial') body.record_ids = data.getAll('record_ids');
        act('decision', body, t('dpo.decided_announce'));
      });
      parts.push(form);
    }
    if (request.state === 'decided') {
      parts.push(request.decision === 'refuse'
        ? step(t('dpo.close'), () => act('close', undefined, t('dpo.closed_announce')))
        : step(t(`dpo.execute_${request.kind}`), () => act('execute', undefined, t('dpo.executed_announce'))));
    }
    if (request.state === 'executed') parts.push(step(t('dpo.close'), () => act('close', undefined, t('dpo.closed_announce'))));
    parts.push(outcome, h('button', { type: 'button', class: 'link', onclick: () => { detail.hidden = true; } }, t('live.close')));
    detail.replaceChildren(...parts);
    detail.hidden = false;
    detail.querySelector('h2').focus();
  }

  function registerForm() {
    const outcome = h('div', { 'aria-live': 'polite' });
    const now = new Date();
    const form = h('form', { class: 'card', 'aria-labelledby': 'new-request' },
      h('h2', { id: 'new-request' }, t('dpo.new')),
      field(t('dpo.kind'), select('kind', ['access', 'rectification', 'erasure'].map((k) => [k, term('request_kind', k)]), 'access')),
      field(t('dpo.requester'), h('input', { name: 'requester', required: true, maxlength: '200' }), t('dpo.requester_hint')),
      field(t('search.plate'), h('input', { name: 'plate', required: true, maxlength: '32' })),
      field(t('search.since'), h('input', { type: 'datetime-local', name: 'since', required: true, value: localInput(new Date(now.getTime() - 7 * 86400_000)) })),
      field(t('search.until'), h('input', { type: 'datetime-local', name: 'until', required: true, value: localInput(new Date(now.getTime() + 3600_000)) })),
      field(t('dpo.place'), h('input', { name: 'place', maxlength: '200' })),
      field(t('dpo.corrected_plate'), h('input', { name: 'corrected_plate', maxlength: '32' }), t('dpo.corrected_hint')),
      field(t('dpo.details'), h('textarea', { name: 'details', rows: '2', maxlength: '4000' })),
      h('button', { type: 'submit', class: 'primary' }, t('dpo.register')), outcome);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const values = formValues(form);
      const body = { ...values, since: isoFromLocal(values.since), until: isoFromLocal(values.until) };
      if (!body.corrected_plate) delete body.corrected_plate;
      try {
        const created = await api('access', 'dpo/requests', { method: 'POST', body });
        announce(t('dpo.registered_announce'));
        form.reset();
        await load();
        show(created);
      } catch (error) {
        outcome.replaceChildren(problemBox(error));
      }
    });
    return form;
  }

  load();
}
