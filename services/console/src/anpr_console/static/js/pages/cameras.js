// Cameras: the register (status, silence, approval, impact analysis, pictogram sign) with positions
// on a map: tiles from the zone's own tile server when one is configured, else a plain background.
// Never a public tile server. Admins register cameras and change their status and position.
import { api, problemBox } from '../api.js';
import { field, formValues, h, s, select } from '../dom.js';
import { dateOnly, dateTime, t, term } from '../i18n.js';

const WIDTH = 640;
const HEIGHT = 400;

export function render(main, { can, config, announce }) {
  const manage = can('manage_cameras');
  const map = h('figure', { class: 'map' });
  const register = h('section', { 'aria-labelledby': 'register-title' });
  const tools = h('div', {});
  main.append(h('h1', {}, t('page.cameras')), map, register, tools);

  async function load() {
    let cameras = [];
    try {
      cameras = await api('ingest', 'cameras');
    } catch (error) {
      register.replaceChildren(problemBox(error));
      return;
    }
    drawMap(cameras);
    register.replaceChildren(h('h2', { id: 'register-title' }, t('cameras.register')),
      h('table', {},
        h('thead', {}, h('tr', {}, ['cameras.id', 'hotlists.name', 'cameras.direction', 'cameras.status', 'cameras.last_seen', 'cameras.approval', 'cameras.sign', 'cameras.impact', 'common.actions']
          .map((k) => h('th', { scope: 'col' }, t(k))))),
        h('tbody', {}, cameras.map(row))));
    tools.replaceChildren(manage ? registerForm() : '');
  }

  function row(camera) {
    const actions = h('td', {});
    if (manage) actions.append(h('button', { type: 'button', onclick: () => edit(camera, actions) }, t('hotlists.edit')));
    return h('tr', {},
      h('th', { scope: 'row' }, camera.camera_id),
      h('td', {}, `${camera.name}${camera.road ? ` · ${camera.road}` : ''}`),
      h('td', {}, term('direction', camera.direction)),
      h('td', {}, term('camera_status', camera.status), camera.silent ? h('strong', { class: 'warn' }, ` · ${t('cameras.silent')}`) : ''),
      h('td', {}, camera.last_seen_at ? dateTime(camera.last_seen_at) : t('cameras.never')),
      h('td', {}, camera.approval_reference ? `${camera.approval_reference}${camera.approval_date ? ` (${dateOnly(camera.approval_date)})` : ''}` : t('cameras.missing')),
      h('td', {}, camera.sign ? camera.sign.description || t('cameras.sign_placed') : t('cameras.missing')),
      h('td', {}, camera.impact_analysis_reference || t('cameras.missing')),
      actions);
  }

  // Web Mercator, as tile servers cut their tiles.
  function project(lat, lon, zoom) {
    const scale = 256 * 2 ** zoom;
    const x = ((lon + 180) / 360) * scale;
    const sin = Math.sin((lat * Math.PI) / 180);
    const y = (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI)) * scale;
    return [x, y];
  }

  function drawMap(cameras) {
    const placed = cameras.filter((c) => c.position);
    const svg = s('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-labelledby': 'map-caption' });
    svg.append(s('rect', { x: 0, y: 0, width: WIDTH, height: HEIGHT, class: 'map-ground' }));
    if (placed.length) {
      const lats = placed.map((c) => c.position.lat);
      const lons = placed.map((c) => c.position.lon);
      const center = [(Math.min(...lats) + Math.max(...lats)) / 2, (Math.min(...lons) + Math.max(...lons)) / 2];
      let zoom = 17;
      while (zoom > 3) {
        const [x0, y0] = project(Math.max(...lats), Math.min(...lons), zoom);
        const [x1, y1] = project(Math.min(...lats), Math.max(...lons), zoom);
        if (x1 - x0 < WIDTH * 0.8 && y1 - y0 < HEIGHT * 0.8) break;
        zoom -= 1;
      }
      const [cx, cy] = project(center[0], center[1], zoom);
      const left = cx - WIDTH / 2;
      const top = cy - HEIGHT / 2;
      const template = config.map && config.map.tile_url;
      if (template) {
        for (let tx = Math.floor(left / 256); tx <= Math.floor((left + WIDTH) / 256); tx += 1) {
          for (let ty = Math.floor(top / 256); ty <= Math.floor((top + HEIGHT) / 256); ty += 1) {
            const href = template.replace('{z}', zoom).replace('{x}', tx).replace('{y}', ty);
            svg.append(s('image', { href, x: tx * 256 - left, y: ty * 256 - top, width: 256, height: 256 }));
          }
        }
      } else {
        for (let gx = 0; gx < WIDTH; gx += 64) svg.append(s('line', { x1: gx, y1: 0, x2: gx, y2: HEIGHT, class: 'map-grid' }));
        for (let gy = 0; gy < HEIGHT; gy += 64) svg.append(s('line', { x1: 0, y1: gy, x2: WIDTH, y2: gy, class: 'map-grid' }));
      }
      for (const camera of placed) {
        const [x, y] = project(camera.position.lat, camera.position.lon, zoom);
        const marker = s('g', { class: `marker ${camera.silent ? 'silent' : ''}`, transform: `translate(${x - left} ${y - top})` },
          s('title', {}, `${camera.camera_id} · ${camera.name} · ${term('camera_status', camera.status)}`),
          s('circle', { r: 7 }),
          s('text', { x: 10, y: 4 }, camera.camera_id));
        svg.append(marker);
      }
    }
    const attribution = config.map && config.map.tile_url ? config.map.attribution : t('cameras.plain_map');
    map.replaceChildren(svg, h('figcaption', { id: 'map-caption' },
      t('cameras.map_caption', { placed: placed.length, total: cameras.length }), ' ', h('small', {}, attribution)));
  }

  function edit(camera, cell) {
    const outcome = h('div', { 'aria-live': 'polite' });
    const form = h('form', { class: 'inline' },
      field(t('cameras.status'), select('status', ['active', 'maintenance', 'retired'].map((v) => [v, term('camera_status', v)]), camera.status)),
      field(t('cameras.lat'), h('input', { name: 'lat', inputmode: 'decimal', value: camera.position ? String(camera.position.lat) : '' })),
      field(t('cameras.lon'), h('input', { name: 'lon', inputmode: 'decimal', value: camera.position ? String(camera.position.lon) : '' })),
      field(t('cameras.approval'), h('input', { name: 'approval_reference', value: camera.approval_reference, maxlength: '200' })),
      h('button', { type: 'submit' }, t('common.save')), outcome);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const values = formValues(form);
      const body = { status: values.status, approval_reference: values.approval_reference };
      if (values.lat && values.lon) body.position = { lat: Number(values.lat), lon: Number(values.lon) };
      try {
        await api('ingest', `cameras/${encodeURIComponent(camera.camera_id)}`, { method: 'PATCH', body });
        announce(t('hotlists.saved'));
        load();
      } catch (error) {
        outcome.replaceChildren(problemBox(error));
      }
    });
    cell.replaceChildren(form);
  }

  function registerForm() {
    const outcome = h('div', { 'aria-live': 'polite' });
    const form = h('form', { class: 'card', 'aria-labelledby': 'new-camera' },
      h('h2', { id: 'new-camera' }, t('cameras.new')),
      field(t('cameras.id'), h('input', { name: 'camera_id', required: true, maxlength: '64', pattern: '[A-Za-z0-9][A-Za-z0-9_.\\-]*' })),
      field(t('hotlists.name'), h('input', { name: 'name', required: true, maxlength: '200' })),
      field(t('cameras.direction'), select('direction', ['in', 'out', 'both'].map((v) => [v, term('direction', v)]), 'in')),
      field(t('cameras.kind'), select('kind', ['frame', 'smart'].map((v) => [v, term('camera_kind', v)]), 'frame')),
      field(t('cameras.lat'), h('input', { name: 'lat', inputmode: 'decimal' })),
      field(t('cameras.lon'), h('input', { name: 'lon', inputmode: 'decimal' })),
      field(t('cameras.road'), h('input', { name: 'road', maxlength: '200' })),
      field(t('cameras.approval'), h('input', { name: 'approval_reference', maxlength: '200' })),
      field(t('cameras.impact'), h('input', { name: 'impact_analysis_reference', maxlength: '200' })),
      field(t('cameras.sign'), h('input', { name: 'sign', maxlength: '500' })),
      h('button', { type: 'submit' }, t('common.create')), outcome);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const { lat, lon, sign, ...body } = formValues(form);
      if (lat && lon) {
        body.position = { lat: Number(lat), lon: Number(lon) };
        if (sign) body.sign = { lat: Number(lat), lon: Number(lon), description: sign };
      }
      try {
        const created = await api('ingest', 'cameras', { method: 'POST', body });
        outcome.replaceChildren(h('div', { class: 'ok', role: 'status' },
          h('p', {}, t('cameras.created', { camera: created.camera_id })),
          h('p', {}, t('cameras.key_once')), h('code', { class: 'secret' }, created.api_key)));
        load();
      } catch (error) {
        outcome.replaceChildren(problemBox(error));
      }
    });
    return form;
  }

  load();
}
