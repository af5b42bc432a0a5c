// Live hits: the newest first as they are raised (Server-Sent Events from match), paged so that the
// page stays usable with tens of thousands of hits; handle one: confirm, false alarm (with a
// reason) or not seen; the false-alarm rate per list and per camera over the hits on the page.
import { api, apiUrl, problemBox } from '../api.js';
import { formValues, h } from '../dom.js';
import { dateTime, number, percent, t, term } from '../i18n.js';

const PAGE_SIZE = 50;
const HISTORY = 200;

export function render(main, { can, announce }) {
  const hits = [];
  const byId = new Map();
  let page = 0;
  let unseenNew = 0;
  let onlyOpen = false;
  let selected = null;
  let scheduled = false;

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
    drawRates();
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
        } catch (error) {
          outcome.replaceChildren(problemBox(error));
        }
      });
      parts.push(form);
    }
    parts.push(h('button', { type: 'button', class: 'link', onclick: () => { detail.hidden = true; selected = null; draw(); } }, t('live.close')));
    detail.replaceChildren(...parts);
    detail.hidden = false;
    draw();
    detail.querySelector('h2').focus();
  }

  // The images of a hit are its read's, which access shows (and audits) to those who may view images,
  // for a stated purpose; others see that they are withheld, and why.
  function images(hit) {
    if (!can('view_image')) return h('p', { class: 'hint' }, t('live.images_withheld'));
    const box = h('div', { class: 'images' });
    const form = h('form', { class: 'inline' },
      h('label', { for: 'img-case' }, t('search.case_reference')),
      h('input', { id: 'img-case', name: 'case_reference', required: true, maxlength: '100' }),
      h('label', { for: 'img-basis' }, t('search.legal_basis')),
      h('input', { id: 'img-basis', name: 'legal_basis', required: true, maxlength: '200' }),
      h('button', { type: 'submit' }, t('live.show_images')), box);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const why = { purpose: 'judicial', ...formValues(form) };
      box.replaceChildren();
      for (const kind of ['crop', 'overview']) {
        try {
          const answer = await api('access', `passages/${encodeURIComponent(hit.read_event_id)}/image`, { query: { kind, ...why }, raw: true });
          const url = URL.createObjectURL(await answer.blob());
          box.append(h('figure', {}, h('img', { src: url, alt: t(`image.${kind}_alt`, { plate: hit.plate_read }) }), h('figcaption', {}, t(`image.${kind}`))));
        } catch (error) {
          box.append(problemBox(error));
        }
      }
    });
    return form;
  }

  function drawRates() {
    const tally = (key) => {
      const groups = new Map();
      for (const hit of hits) {
        if (!hit.ack_outcome || hit.ack_outcome === 'not_seen') continue;
        const group = groups.get(hit[key]) || { confirmed: 0, false_alarm: 0 };
        group[hit.ack_outcome] += 1;
        groups.set(hit[key], group);
      }
      return [...groups.entries()].sort();
    };
    const table = (titleKey, rows) => h('table', { class: 'compact' },
      h('caption', {}, t(titleKey)),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t(titleKey === 'live.rate_lists' ? 'live.list' : 'live.camera')),
        h('th', { scope: 'col' }, term('outcome', 'confirmed')), h('th', { scope: 'col' }, term('outcome', 'false_alarm')), h('th', { scope: 'col' }, t('live.rate')))),
      h('tbody', {}, rows.map(([name, c]) => h('tr', {}, h('th', { scope: 'row' }, name), h('td', { class: 'num' }, number(c.confirmed)),
        h('td', { class: 'num' }, number(c.false_alarm)), h('td', { class: 'num' }, percent(c.false_alarm / (c.confirmed + c.false_alarm)))))));
    rates.replaceChildren(h('h2', { id: 'rates-title' }, t('live.rates_title')), h('p', { class: 'hint' }, t('live.rates_hint')),
      table('live.rate_lists', tally('list_name')), table('live.rate_cameras', tally('camera_id')));
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
  loadHistory().then(connect);
  return () => {
    closed = true;
    if (source) source.close();
  };
}
