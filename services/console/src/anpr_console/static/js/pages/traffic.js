// Traffic: vehicles (passages, never reads) in and out of the zone per camera and hour or day, as a
// chart, as a table, and as the CSV the API gives.
import { api, apiUrl, problemBox } from '../api.js';
import { field, formValues, h, isoFromLocal, localInput, s, select } from '../dom.js';
import { dateTime, hour, number, t } from '../i18n.js';

export function render(main) {
  const now = new Date();
  const outcome = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'inline card' },
    field(t('traffic.from'), h('input', { type: 'datetime-local', name: 'from', value: localInput(new Date(now.getTime() - 24 * 3600_000)) })),
    field(t('traffic.to'), h('input', { type: 'datetime-local', name: 'to', value: localInput(new Date(now.getTime() + 3600_000)) })),
    field(t('traffic.bucket'), select('bucket', [['hour', t('traffic.hour')], ['day', t('traffic.day')]], 'hour')),
    h('button', { type: 'submit', class: 'primary' }, t('traffic.show')));
  main.append(h('h1', {}, t('page.traffic')), h('p', {}, t('traffic.intro')), form, outcome);

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    load();
  });

  async function load() {
    const values = formValues(form);
    const query = { from: isoFromLocal(values.from), to: isoFromLocal(values.to), bucket: values.bucket };
    let report;
    try {
      report = await api('access', 'stats/traffic', { query });
    } catch (error) {
      outcome.replaceChildren(problemBox(error));
      return;
    }
    const buckets = new Map();
    for (const r of report.rows) {
      const b = buckets.get(r.bucket_start) || { in: 0, out: 0 };
      b.in += r.passages_in;
      b.out += r.passages_out;
      buckets.set(r.bucket_start, b);
    }
    const series = [...buckets.entries()].sort();
    outcome.replaceChildren(
      h('p', {}, h('a', { class: 'button', href: apiUrl('access', 'stats/traffic', { ...query, format: 'csv' }), download: 'traffic.csv' }, t('traffic.csv'))),
      chart(series),
      h('table', { class: 'compact' },
        h('caption', {}, t('traffic.table')),
        h('thead', {}, h('tr', {}, ['traffic.camera', 'traffic.bucket_start', 'traffic.in', 'traffic.out'].map((k) => h('th', { scope: 'col' }, t(k))))),
        h('tbody', {}, report.rows.map((r) => h('tr', {}, h('th', { scope: 'row' }, r.camera_id), h('td', {}, dateTime(r.bucket_start)),
          h('td', { class: 'num' }, number(r.passages_in)), h('td', { class: 'num' }, number(r.passages_out))))),
        report.rows.length ? null : h('tbody', {}, h('tr', {}, h('td', { colspan: '4' }, t('traffic.none'))))));
  }

  function chart(series) {
    const width = 720;
    const height = 220;
    const max = Math.max(1, ...series.map(([, b]) => Math.max(b.in, b.out)));
    const slot = series.length ? (width - 40) / series.length : width;
    const svg = s('svg', { viewBox: `0 0 ${width} ${height + 30}`, role: 'img', 'aria-labelledby': 'chart-title', class: 'chart' });
    svg.append(s('title', { id: 'chart-title' }, t('traffic.chart', { max })));
    svg.append(s('line', { x1: 30, y1: height, x2: width, y2: height, class: 'axis' }));
    svg.append(s('text', { x: 0, y: 12, class: 'tick' }, number(max)));
    series.forEach(([start, b], n) => {
      const x = 34 + n * slot;
      const bar = Math.max(2, slot / 2 - 2);
      const hIn = (b.in / max) * (height - 10);
      const hOut = (b.out / max) * (height - 10);
      svg.append(
        s('rect', { x, y: height - hIn, width: bar, height: hIn, class: 'in' }, s('title', {}, `${hour(start)}: ${t('traffic.in')} ${number(b.in)}`)),
        s('rect', { x: x + bar + 1, y: height - hOut, width: bar, height: hOut, class: 'out' }, s('title', {}, `${hour(start)}: ${t('traffic.out')} ${number(b.out)}`)));
      if (series.length <= 24 || n % Math.ceil(series.length / 12) === 0) svg.append(s('text', { x, y: height + 16, class: 'tick' }, hour(start)));
    });
    return h('figure', {}, svg, h('figcaption', {}, h('span', { class: 'key in' }, t('traffic.in')), ' ', h('span', { class: 'key out' }, t('traffic.out'))));
  }

  load();
}
