// Hotlists: the lists and their entries; add, edit and expire an entry; import a CSV (all or
// nothing: a progress bar while it goes up, then the count, or every refused line with its reason).
import { api, apiUrl, ApiError, problemBox } from '../api.js';
import { field, formValues, h, isoFromLocal, select } from '../dom.js';
import { dateTime, number, t, term } from '../i18n.js';

const CATEGORIES = ['stolen_vehicle', 'wanted_person', 'no_insurance', 'no_mot', 'seized', 'neighbour_signal', 'local_watch'];

export function render(main, { can, announce }) {
  const manage = can('manage_hotlist');
  const lists = h('section', { 'aria-labelledby': 'lists-title' });
  const entries = h('section', { 'aria-labelledby': 'entries-title' });
  const tools = h('div', { class: 'columns' });
  let known = [];
  let filter = { list_name: '', plate: '' };

  main.append(h('h1', {}, t('page.hotlists')), lists, entries, tools);

  async function loadLists({ tools: redraw = true } = {}) {
    try {
      known = await api('match', 'lists');
    } catch (error) {
      lists.replaceChildren(problemBox(error));
      return;
    }
    lists.replaceChildren(
      h('h2', { id: 'lists-title' }, t('hotlists.lists')),
      h('table', { class: 'compact' },
        h('thead', {}, h('tr', {}, ['hotlists.name', 'live.category', 'hotlists.rules', 'hotlists.description'].map((k) => h('th', { scope: 'col' }, t(k))))),
        h('tbody', {}, known.map((list) => h('tr', {},
          h('th', { scope: 'row' }, list.name), h('td', {}, term('category', list.category)),
          h('td', {}, t('hotlists.rule_text', { subs: list.max_substitutions, edit: list.allow_edit ? t('common.yes') : t('common.no') })),
          h('td', {}, list.description))))));
    if (redraw) drawTools();
  }

  async function loadEntries() {
    const body = h('tbody');
    const filterForm = h('form', { class: 'inline', role: 'search' },
      field(t('hotlists.list'), select('list_name', [['', t('search.any')], ...known.map((l) => [l.name, l.name])], filter.list_name)),
      field(t('search.plate'), h('input', { name: 'plate', value: filter.plate, maxlength: '32' })),
      h('button', { type: 'submit' }, t('hotlists.filter')));
    filterForm.addEventListener('submit', (event) => {
      event.preventDefault();
      filter = formValues(filterForm);
      loadEntries();
    });
    entries.replaceChildren(h('h2', { id: 'entries-title' }, t('hotlists.entries')), filterForm,
      h('table', {}, h('thead', {}, h('tr', {}, ['search.plate', 'hotlists.list', 'live.priority', 'live.action', 'hotlists.valid', 'hotlists.reason', 'search.case_reference', 'common.actions']
        .map((k) => h('th', { scope: 'col' }, t(k))))), body));
    try {
      const found = await api('match', 'hotlist', { query: { ...filter, limit: 200 } });
      body.replaceChildren(...found.map(entryRow));
      if (!found.length) body.append(h('tr', {}, h('td', { colspan: '8' }, t('hotlists.no_entries'))));
    } catch (error) {
      entries.append(problemBox(error));
    }
  }

  function entryRow(entry) {
    const actions = h('td', {});
    if (manage) {
      actions.append(
        h('button', { type: 'button', onclick: () => edit(entry, actions) }, t('hotlists.edit')), ' ',
        h('button', { type: 'button', onclick: () => expire(entry, actions) }, t('hotlists.expire')));
    }
    return h('tr', {},
      h('th', { scope: 'row', class: 'plate' }, `${entry.plate}${entry.country ? ` (${entry.country})` : ''}`),
      h('td', {}, `${entry.list_name} · ${term('category', entry.category)}`),
      h('td', { class: 'num' }, number(entry.priority)),
      h('td', {}, entry.action),
      h('td', {}, `${dateTime(entry.valid_from)} – ${entry.valid_until ? dateTime(entry.valid_until) : t('hotlists.open_ended')}`),
      h('td', {}, entry.reason),
      h('td', {}, entry.case_reference),
      actions);
  }

  function edit(entry, cell) {
    const outcome = h('div', { 'aria-live': 'polite' });
    const form = h('form', { class: 'inline' },
      field(t('live.priority'), h('input', { type: 'number', name: 'priority', min: '0', max: '9', value: String(entry.priority) })),
      field(t('live.action'), h('input', { name: 'action', value: entry.action, maxlength: '200' })),
      field(t('hotlists.valid_until'), h('input', { type: 'datetime-local', name: 'valid_until' })),
      field(t('hotlists.change_reason'), h('input', { name: 'reason', required: true, maxlength: '500' })),
      h('button', { type: 'submit' }, t('common.save')), outcome);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const values = formValues(form);
      const body = { priority: Number(values.priority), action: values.action, reason: values.reason };
      if (values.valid_until) body.valid_until = isoFromLocal(values.valid_until);
      try {
        await api('match', `hotlist/${encodeURIComponent(entry.entry_id)}`, { method: 'PATCH', body });
        announce(t('hotlists.saved'));
        loadEntries();
      } catch (error) {
        outcome.replaceChildren(problemBox(error));
      }
    });
    cell.replaceChildren(form);
    form.querySelector('input').focus();
  }

  function expire(entry, cell) {
    const outcome = h('div', { 'aria-live': 'polite' });
    const form = h('form', { class: 'inline' },
      field(t('hotlists.expire_reason'), h('input', { name: 'reason', required: true, maxlength: '500' })),
      h('button', { type: 'submit' }, t('hotlists.expire')), outcome);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        await api('match', `hotlist/${encodeURIComponent(entry.entry_id)}/expire`, { method: 'POST', body: formValues(form) });
        announce(t('hotlists.expired'));
        loadEntries();
      } catch (error) {
        outcome.replaceChildren(problemBox(error));
      }
    });
    cell.replaceChildren(form);
    form.querySelector('input').focus();
  }

  function drawTools() {
    if (!manage) {
      tools.replaceChildren();
      return;
    }
    tools.replaceChildren(addList(), addEntry(), importCsv());
  }

  function addList() {
    const outcome = h('div', { 'aria-live': 'polite' });
    const form = h('form', { class: 'card', 'aria-labelledby': 'new-list' },
      h('h2', { id: 'new-list' }, t('hotlists.new_list')),
      field(t('hotlists.name'), h('input', { name: 'name', required: true, maxlength: '64' })),
      field(t('live.category'), select('category', CATEGORIES.map((c) => [c, term('category', c)]), 'stolen_vehicle')),
      field(t('hotlists.description'), h('input', { name: 'description', maxlength: '500' })),
      h('button', { type: 'submit' }, t('common.create')), outcome);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        await api('match', 'lists', { method: 'POST', body: formValues(form) });
        announce(t('hotlists.created'));
        await loadLists();
        loadEntries();
      } catch (error) {
        outcome.replaceChildren(problemBox(error));
      }
    });
    return form;
  }

  function addEntry() {
    const outcome = h('div', { 'aria-live': 'polite' });
    const form = h('form', { class: 'card', 'aria-labelledby': 'new-entry' },
      h('h2', { id: 'new-entry' }, t('hotlists.new_entry')),
      field(t('search.plate'), h('input', { name: 'plate', required: true, maxlength: '32' })),
      field(t('hotlists.country'), h('input', { name: 'country', maxlength: '2' })),
      field(t('hotlists.list'), select('list_name', known.map((l) => [l.name, l.name]), known[0] && known[0].name)),
      field(t('live.priority'), h('input', { type: 'number', name: 'priority', min: '0', max: '9', value: '1' })),
      field(t('live.action'), h('input', { name: 'action', maxlength: '200', value: t('hotlists.default_action') })),
      field(t('hotlists.reason'), h('input', { name: 'reason', required: true, maxlength: '500' })),
      field(t('search.case_reference'), h('input', { name: 'case_reference', required: true, maxlength: '100' })),
      h('button', { type: 'submit' }, t('common.add')), outcome);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const body = formValues(form);
      body.priority = Number(body.priority);
      try {
        const entry = await api('match', 'hotlist', { method: 'POST', body });
        announce(t('hotlists.added', { plate: entry.plate }));
        loadEntries();
      } catch (error) {
        outcome.replaceChildren(problemBox(error));
      }
    });
    return form;
  }

  function importCsv() {
    const progress = h('progress', { max: '100', value: '0', 'aria-labelledby': 'import-progress-label', hidden: true });
    const label = h('span', { id: 'import-progress-label' });
    const outcome = h('div', { 'aria-live': 'polite' });
    const file = h('input', { type: 'file', name: 'file', accept: '.csv,text/csv', required: true });
    const form = h('form', { class: 'card', 'aria-labelledby': 'import-title' },
      h('h2', { id: 'import-title' }, t('hotlists.import')),
      h('p', { class: 'hint' }, t('hotlists.import_hint')),
      field(t('hotlists.file'), file),
      h('button', { type: 'submit' }, t('hotlists.import_submit')),
      h('div', { class: 'progress' }, label, progress), outcome);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (!file.files.length) return;
      outcome.replaceChildren();
      progress.hidden = false;
      progress.value = 0;
      label.textContent = t('hotlists.uploading', { percent: 0 });
      // XMLHttpRequest, for the upload's progress events (fetch has none).
      const xhr = new XMLHttpRequest();
      xhr.open('POST', apiUrl('match', 'hotlist/import'));
      xhr.setRequestHeader('Content-Type', 'text/csv');
      xhr.setRequestHeader('X-Schild-Console', '1');
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.upload.addEventListener('progress', (e) => {
        if (!e.lengthComputable) return;
        const share = Math.round((100 * e.loaded) / e.total);
        progress.value = share;
        label.textContent = t('hotlists.uploading', { percent: share });
      });
      xhr.upload.addEventListener('load', () => {
        progress.removeAttribute('value'); // indeterminate: the service checks every line now
        label.textContent = t('hotlists.checking');
      });
      xhr.addEventListener('load', async () => {
        progress.hidden = true;
        let body = {};
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          body = { detail: xhr.statusText };
        }
        if (xhr.status === 201) {
          label.textContent = '';
          outcome.replaceChildren(h('p', { class: 'ok', role: 'status' }, t('hotlists.imported', { count: body.imported, lists: (body.lists || []).join(', ') })));
          await loadLists({ tools: false }); // keeps this form, and its answer, in place
          loadEntries();
          return;
        }
        label.textContent = '';
        const lines = body.errors || [];
        outcome.replaceChildren(problemBox(new ApiError(xhr.status, { ...body, errors: [] })),
          lines.length ? h('table', { class: 'compact errors' },
            h('caption', {}, t('hotlists.refused_lines', { count: lines.length })),
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('hotlists.line_number')), h('th', { scope: 'col' }, t('hotlists.reason')))),
            h('tbody', {}, lines.map((line) => h('tr', {}, h('td', { class: 'num' }, number(line.line)), h('td', {}, line.reason))))) : null);
      });
      xhr.addEventListener('error', () => {
        progress.hidden = true;
        outcome.replaceChildren(problemBox(new ApiError(0, { detail: t('problem.network') })));
      });
      xhr.send(file.files[0]);
    });
    return form;
  }

  loadLists().then(loadEntries);
}
