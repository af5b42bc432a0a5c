// Search: the purpose form the law asks for (purpose, case or PV number, legal basis, and the
// prosecutor's decision past the first month), then passages with their reads and images. The
// service refuses what the law refuses; the page shows its reason.
import { api, problemBox } from '../api.js';
import { field, formValues, h, isoFromLocal, localInput, select } from '../dom.js';
import { dateTime, number, percent, t, term } from '../i18n.js';

export function render(main) {
  const now = new Date();
  const since = new Date(now.getTime() - 7 * 86400_000);
  const outcome = h('div', { 'aria-live': 'polite' });
  const results = h('section', { 'aria-labelledby': 'results-title' });
  let justification = null;
  let asked = null;

  const form = h('form', { class: 'card', novalidate: true },
    h('fieldset', {},
      h('legend', {}, t('search.why')),
      field(t('search.purpose'), select('purpose', [['', t('search.purpose_choose')], ['administrative', term('purpose', 'administrative')], ['judicial', term('purpose', 'judicial')]], ''), t('search.purpose_hint')),
      field(t('search.case_reference'), h('input', { name: 'case_reference', maxlength: '100', 'aria-required': 'true' }), t('search.case_hint')),
      field(t('search.legal_basis'), h('input', { name: 'legal_basis', maxlength: '200', 'aria-required': 'true' }), t('search.legal_basis_hint')),
      field(t('search.prosecutor_decision'), h('input', { name: 'prosecutor_decision', maxlength: '100' }), t('search.prosecutor_hint'))),
    h('fieldset', {},
      h('legend', {}, t('search.what')),
      field(t('search.plate'), h('input', { name: 'plate', maxlength: '32', autocomplete: 'off' })),
      h('div', { class: 'choice' }, h('input', { type: 'checkbox', name: 'fuzzy', id: 'fuzzy', value: 'true' }), h('label', { for: 'fuzzy' }, t('search.fuzzy'))),
      field(t('search.camera'), h('input', { name: 'camera_id', maxlength: '64' })),
      field(t('search.direction'), select('direction', [['', t('search.any')], ['in', term('direction', 'in')], ['out', term('direction', 'out')]], '')),
      field(t('search.since'), h('input', { type: 'datetime-local', name: 'since', value: localInput(since) })),
      field(t('search.until'), h('input', { type: 'datetime-local', name: 'until', value: localInput(new Date(now.getTime() + 3600_000)) })),
      field(t('search.page_size'), select('limit', [['50', number(50)], ['100', number(100)], ['500', number(500)]], '100'))),
    h('button', { type: 'submit', class: 'primary' }, t('search.submit')),
    outcome);

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const values = formValues(form);
    justification = {
      purpose: values.purpose, case_reference: values.case_reference,
      legal_basis: values.legal_basis, prosecutor_decision: values.prosecutor_decision,
    };
    asked = {
      plate: values.plate, fuzzy: values.fuzzy ? 'true' : '', camera_id: values.camera_id, direction: values.direction,
      since: isoFromLocal(values.since), until: isoFromLocal(values.until), limit: values.limit,
    };
    run(0);
  });

  async function run(offset) {
    outcome.replaceChildren(h('p', { class: 'hint' }, t('search.searching')));
    results.replaceChildren();
    try {
      const page = await api('access', 'passages', { query: { ...justification, ...asked, offset } });
      outcome.replaceChildren();
      show(page);
    } catch (error) {
      outcome.replaceChildren(problemBox(error));
    }
  }

  function show(page) {
    const first = page.offset + 1;
    const last = page.offset + page.items.length;
    results.replaceChildren(
      h('h2', { id: 'results-title', tabindex: '-1' }, t('search.results_title')),
      h('p', { class: 'tier' }, t('search.tier', { tier: term('tier', page.legal_tier) })),
      h('p', { class: 'counts' }, page.items.length ? range(first, last, page) : t('search.none')),
      h('ol', { class: 'passages', start: String(first) }, page.items.map(passage)),
      h('nav', { class: 'pager', 'aria-label': t('search.pages') },
        page.offset > 0 ? h('button', { type: 'button', onclick: () => run(Math.max(0, page.offset - page.limit)) }, t('pager.previous')) : null,
        page.next_offset !== null && page.next_offset !== undefined ? h('button', { type: 'button', onclick: () => run(page.next_offset) }, t('pager.next')) : null),
    );
    results.querySelector('h2').focus();
  }

  // The total over all pages; past what access counts (total_exact false) it says "more than".
  function range(first, last, page) {
    if (page.total === undefined || page.total === null) return t('search.range', { first, last });
    const key = page.total_exact === false ? 'search.range_more' : 'search.range_of';
    return t(key, { first, last, total: page.total });
  }

  function passage(item) {
    return h('li', {},
      h('details', {},
        h('summary', {},
          h('span', { class: 'plate' }, item.formatted || item.plate), ' ',
          h('span', {}, `${dateTime(item.first_seen)} · ${item.camera_id} · ${term('direction', item.direction)} · ${item.country || '–'} · ${percent(item.confidence)} · `),
          h('span', {}, t('search.reads', { count: item.reads.length }))),
        h('ul', { class: 'reads' }, item.reads.map(read))));
  }

  function read(item) {
    const images = h('div', { class: 'images' });
    const button = (kind) => h('button', { type: 'button', onclick: async () => {
      try {
        const answer = await api('access', `passages/${encodeURIComponent(item.event_id)}/image`, { query: { kind, ...justification }, raw: true });
        const url = URL.createObjectURL(await answer.blob());
        images.append(h('figure', {}, h('img', { src: url, alt: t(`image.${kind}_alt`, { plate: item.formatted || item.plate }) }), h('figcaption', {}, t(`image.${kind}`))));
      } catch (error) {
        images.append(problemBox(error));
      }
    } }, t(`image.show_${kind}`));
    return h('li', {},
      `${dateTime(item.captured_at)} · ${item.formatted || item.plate} · ${percent(item.confidence)} `,
      item.has_crop ? button('crop') : null, ' ',
      item.has_overview ? button('overview') : null,
      images);
  }

  main.append(h('h1', {}, t('page.search')), h('p', {}, t('search.intro')), form, results);
}
