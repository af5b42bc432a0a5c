// Live hits: the newest first as they are raised (Server-Sent Events from match), paged so that the
// page stays usable with tens of thousands of hits; a hit's crop and overview (access, each view
// audited); handle one: confirm, false alarm (with a reason) or not seen; the false-alarm rate per
// list and per camera over a period, as match counts it from every operator's verdicts.
import { ApiError, api, apiUrl, problemBox } from '../api.js';
import { formValues, h } from '../dom.js';
import { dateTime, number, percent, t, term } from '../i18n.js';

const PAGE_SIZE = 50;
const HISTORY = 200;
const RATE_PERIODS = [['1', 'live.rates_day'], ['7', 'live.rates_week'], ['30', 'live.rates_month']];

export function render(main, { can, announce }) {
  const hits = [];
  const byId = new Map();
  let page = 0;
  let unseenNew = 0;
  let onlyOpen = false;
  let selected = null;
  let scheduled = false;
  let shownImages = [];
  let rateDays = '30';

  const status = h('p', { class: 'status', role: 'status' }, t('live.connecting'));
  const counts = h('p', { class: 'counts' });
  const notice = h('div', { 'aria-live': 'polite' });
  const tbody = h('tbody');
  const pager = h('nav', { class: 'pager', 'aria-label': t('live.pages') });
  const detail = h('section', { class: 'detail', 'aria-labelledby': 'hit-title', hidden: true });
  const rates = h('section', { class: 'rates', 'aria-labelledby': 'rates-title' });
  const filter = h('input', { type: 'checkbox', id: 'only-open' });
  filter.addEventListener('change', () => {
    onlyOpen = filter.checked;
    page = 0;
    draw();
  });

  main.append(
    h('h1', {}, t('page.live')),
    status,
    counts,
    h('div', { class: 'choice' }, filter, h('label', { for: 'only-open' }, t('live.only_open'))),
    notice,
    h('div', { class: 'columns' },
      h('div', { class: 'wide' },
        h('table', { class: 'hits' },
          h('caption', { class: 'visually-hidden' }, t('live.caption')),
          h('thead', {}, h('tr', {}, ['live.time', 'live.plate', 'live.list', 'live.category', 'live.priority', 'live.camera', 'live.action', 'live.state']
            .map((key) => h('th', { scope: 'col' }, t(key))))),
          tbody),
        pager),
      h('div', { class: 'side' }, detail, rates)),
  );

  function visible() {
    return onlyOpen ? hits.filter((hit) => !hit.ack_outcome) : hits;
  }

  function add(hit, live) {
    if (byId.has(hit.hit_id)) return;
    byId.set(hit.hit_id, hit);
    if (live) {
      hits.unshift(hit);
      if (page > 0) unseenNew += 1;
    } else hits.push(hit);
  }

  // Many hits at once (a reconnect, a burst) are drawn once, at the next frame.
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      draw();
    });
  }

  function draw() {
    const shown = visible();
    const pages = Math.max(1, Math.ceil(shown.length / PAGE_SIZE));
    page = Math.min(page, pages - 1);
    const open = hits.filter((hit) => !hit.ack_outcome).length;
    counts.textContent = t('live.counts', { total: hits.length, open });
    tbody.replaceChildren(...shown.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE).map(row));
    notice.replaceChildren(unseenNew && page > 0
      ? h('button', { type: 'button', class: 'link', onclick: () => { page = 0; unseenNew = 0; draw(); } }, t('live.new_hits', { count: unseenNew }))
      : '');
    // Redrawing the pager must not drop the keyboard user's focus: it stays on the same button, or
    // moves to the one that still leads somewhere.
    const focused = pager.contains(document.activeElement) ? document.activeElement.dataset.go : null;
    pager.replaceChildren(
      h('button', { type: 'button', 'data-go': 'first', disabled: page === 0, onclick: () => go(0) }, t('pager.first')),
      h('button', { type: 'button', 'data-go': 'previous', disabled: page === 0, onclick: () => go(page - 1) }, t('pager.previous')),
      h('span', { 'aria-live': 'polite' }, t('pager.page_of', { page: page + 1, pages })),
      h('button', { type: 'button', 'data-go': 'next', disabled: page >= pages - 1, onclick: () => go(page + 1) }, t('pager.next')),
      h('button', { type: 'button', 'data-go': 'last', disabled: page >= pages - 1, onclick: () => go(pages - 1) }, t('pager.last')),
    );
    if (focused) {
      const fallback = { first: 'next', previous: 'next', next: 'previous', last: 'previous' }[focused];
      const same = pager.querySelector(`[data-go="${focused}"]`);
      (same && !same.disabled ? same : pager.querySelector(`[data-go="${fallback}"]`)).focus();
    }
  }

  function go(target) {
    page = target;
    if (page === 0) unseenNew = 0;
    draw();
  }

  function row(hit) {
    const plate = hit.plate_read === hit.plate_listed ? hit.plate_read : `${hit.plate_read} → ${hit.plate_listed}`;
    return h('tr', { class: [hit.ack_outcome ? 'done' : 'open', selected === hit.hit_id ? 'selected' : ''].join(' '), 'data-hit': hit.hit_id },
      h('td', {}, dateTime(hit.captured_at)),
      h('td', {}, h('button', { type: 'button', class: 'link plate', onclick: () => show(hit) }, plate),
        h('small', {}, ` ${term('match_kind', hit.match_kind)}`)),
      h('td', {}, hit.list_name),
      h('td', {}, term('category', hit.category)),
      h('td', { class: 'num' }, number(hit.priority)),
      h('td', {}, hit.camera_id),
      h('td', {}, hit.action),
      h('td', {}, hit.ack_outcome ? term('outcome', hit.ack_outcome) : t('live.open')),
    );
  }

  function show(hit) {
    if (selected !== hit.hit_id) forgetImages();
    selected = hit.hit_id;
    const outcome = h('div', { 'aria-live': 'polite' });
    const parts = [
      h('h2', { id: 'hit-title', tabindex: '-1' }, t('live.hit_title', { plate: hit.plate_listed })),
      h('dl', {},
        h('dt', {}, t('live.time')), h('dd', {}, dateTime(hit.captured_at)),
        h('dt', {}, t('live.read_as')), h('dd', {}, hit.plate_read),
        h('dt', {}, t('live.match')), h('dd', {}, `${term('match_kind', hit.match_kind)} (${number(hit.score, { maximumFractionDigits: 2 })})`),
        h('dt', {}, t('live.list')), h('dd', {}, `${hit.list_name} · ${term('category', hit.category)}`),
        h('dt', {}, t('live.camera')), h('dd', {}, `${hit.camera_id} · ${term('direction', hit.direction)}`),
        h('dt', {}, t('live.action')), h('dd', { class: 'action' }, hit.action)),
      images(hit),
    ];
    if (hit.ack_outcome) {
      parts.push(h('p', { class: 'acked' }, t('live.acked', { outcome: term('outcome', hit.ack_outcome), who: hit.ack_by || '', reason: hit.ack_reason || '' })));
    } else if (can('ack_hit')) {
      const form = h('form', { class: 'ack' },
        h('fieldset', {},
          h('legend', {}, t('live.ack_legend')),
          ['confirmed', 'false_alarm', 'not_seen'].map((value) => h('div', { class: 'choice' },
            h('input', { type: 'radio', name: 'outcome', id: `ack-${value}`, value, required: true }),
            h('label', { for: `ack-${value}` }, term('outcome', value))))),
        h('div', { class: 'field' },
          h('label', { for: 'ack-reason' }, t('live.reason')),
          h('textarea', { id: 'ack-reason', name: 'reason', rows: '2', maxlength: '500', 'aria-describedby': 'ack-reason-hint' }),
          h('small', { id: 'ack-reason-hint', class: 'hint' }, t('live.reason_hint'))),
        h('button', { type: 'submit', class: 'primary' }, t('live.ack_submit')),
        outcome);
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const values = formValues(form);
        try {
          const done = await api('match', `hits/${encodeURIComponent(hit.hit_id)}/ack`, { method: 'POST', body: { outcome: values.outcome, reason: values.reason || '' } });
          Object.assign(hit, done);
          announce(t('live.acked_announce', { outcome: term('outcome', done.ack_outcome) }));
          show(hit);
          draw();
          loadRates();
        } catch (error) {
          outcome.replaceChildren(problemBox(error));
        }
      });
      parts.push(form);
    }
    parts.push(h('button', { type: 'button', class: 'link', onclick: () => { detail.hidden = true; selected = null; forgetImages(); draw(); } }, t('live.close')));
    detail.replaceChildren(...parts);
    detail.hidden = false;
    draw();
    detail.querySelector('h2').focus();
  }

  // The images of a hit are its read's: access shows them to those who follow hits, for this hit
  // only, and audits each view (purpose: operational). Access stores a hit a moment after match
  // raises it: a hit opened at once may have no image yet, and the user may ask again.
  function images(hit) {
    const box = h('div', { class: 'images' });
    if (!hit.images) hit.images = {};
    for (const kind of ['crop', 'overview']) box.append(image(hit, kind));
    return box;
  }

  function image(hit, kind) {
    const figure = h('figure', { 'aria-busy': 'true' }, h('figcaption', {}, t(`image.${kind}`)));
    const shown = (url) => {
      figure.prepend(h('img', { src: url, alt: t(`image.${kind}_alt`, { plate: hit.plate_read }) }));
      figure.removeAttribute('aria-busy');
    };
    if (hit.images[kind]) {
      shown(hit.images[kind]);
      return figure;
    }
    api('access', `hits/${encodeURIComponent(hit.hit_id)}/images/${kind}`, { raw: true })
      .then(async (answer) => {
        const url = URL.createObjectURL(await answer.blob());
        shownImages.push([hit, kind, url]);
        hit.images[kind] = url;
        shown(url);
      })
      .catch((error) => {
        figure.removeAttribute('aria-busy');
        if (error instanceof ApiError && error.status === 404) {
          figure.append(h('p', { class: 'hint' }, t('live.no_image')),
            h('button', { type: 'button', class: 'link', onclick: () => figure.replaceWith(image(hit, kind)) }, t('live.image_again')));
        } else figure.append(problemBox(error));
      });
    return figure;
  }

  // Images are personal data: kept in the page only while their hit is open.
  function forgetImages() {
    for (const [hit, kind, url] of shownImages) {
      URL.revokeObjectURL(url);
      if (hit.images) delete hit.images[kind];
    }
    shownImages = [];
  }

  const periods = h('select', { id: 'rates-period' },
    RATE_PERIODS.map(([days, key]) => h('option', { value: days, selected: days === rateDays }, t(key))));
  periods.addEventListener('change', () => { rateDays = periods.value; loadRates(); });
  const rateTables = h('div', { 'aria-live': 'polite' });
  rates.append(h('h2', { id: 'rates-title' }, t('live.rates_title')),
    h('div', { class: 'field' }, h('label', { for: 'rates-period' }, t('live.rates_period')), periods),
    h('p', { class: 'hint' }, t('live.rates_hint')), rateTables);

  async function loadRates() {
    const since = new Date(Date.now() - Number(rateDays) * 86400_000).toISOString();
    try {
      drawRates(await api('match', 'hits/false-alarm-rates', { query: { since } }));
    } catch (error) {
      rateTables.replaceChildren(problemBox(error));
    }
  }

  function drawRates(answer) {
    const table = (titleKey, nameKey, rows, name) => h('table', { class: 'compact' },
      h('caption', {}, t(titleKey)),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t(nameKey)),
        ['confirmed', 'false_alarm', 'not_seen'].map((outcome) => h('th', { scope: 'col' }, term('outcome', outcome))),
        h('th', { scope: 'col' }, t('live.rate')))),
      h('tbody', {}, rows.filter((row) => row.acknowledged).map((row) => h('tr', {}, h('th', { scope: 'row' }, row[name]),
        h('td', { class: 'num' }, number(row.confirmed)), h('td', { class: 'num' }, number(row.false_alarms)),
        h('td', { class: 'num' }, number(row.not_seen)), h('td', { class: 'num' }, percent(row.false_alarm_rate))))));
    rateTables.replaceChildren(
      table('live.rate_lists', 'live.list', answer.lists, 'list_name'),
      table('live.rate_cameras', 'live.camera', answer.cameras, 'camera_id'));
  }

  let source = null;
  let closed = false;
  function connect() {
    if (closed) return;
    source = new EventSource(apiUrl('match', 'hits/stream'));
    source.addEventListener('open', () => { status.textContent = t('live.connected'); });
    source.addEventListener('hit', (event) => {
      const hit = JSON.parse(event.data);
      hit.ack_outcome = hit.ack_outcome || null;
      add(hit, true);
      announce(t('live.hit_announce', { plate: hit.plate_listed, list: hit.list_name, camera: hit.camera_id }));
      schedule();
    });
    const restart = () => {
      source.close();
      status.textContent = t('live.reconnecting');
      setTimeout(() => { loadHistory(); connect(); }, 2000);
    };
    source.addEventListener('overflow', restart);
    source.addEventListener('unavailable', restart);
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) restart();
      else status.textContent = t('live.reconnecting');
    });
  }

  async function loadHistory() {
    try {
      const recent = await api('match', 'hits', { query: { limit: HISTORY } });
      for (const hit of recent) add(hit, false);
      hits.sort((a, b) => (a.captured_at < b.captured_at ? 1 : -1));
      draw();
    } catch (error) {
      notice.replaceChildren(problemBox(error));
    }
  }

  draw();
  loadRates();
  loadHistory().then(connect);
  return () => {
    closed = true;
    if (source) source.close();
    forgetImages();
  };
}
