// Dutch, French and English: every string of the page comes from a catalogue; dates and numbers are
// written the way the user's language writes them (Intl), on the zone's clock (Europe/Brussels).
const TAGS = { nl: 'nl-BE', fr: 'fr-BE', en: 'en-GB' };
const ZONE_CLOCK = 'Europe/Brussels';
let catalogue = {};
let current = 'nl';

export const LANGUAGES = ['nl', 'fr', 'en'];

export async function useLanguage(language) {
  const chosen = LANGUAGES.includes(language) ? language : 'nl';
  const answer = await fetch(`/console/assets/i18n/${chosen}.json`, { credentials: 'same-origin' });
  catalogue = await answer.json();
  current = chosen;
  document.documentElement.lang = chosen;
  translateStatic(document);
  return chosen;
}

export function language() {
  return current;
}

export function t(key, params = {}) {
  const text = Object.hasOwn(catalogue, key) ? catalogue[key] : `⟦${key}⟧`;
  return text.replace(/\{(\w+)\}/g, (_, name) => {
    const value = params[name];
    if (value === undefined || value === null) return '';
    return typeof value === 'number' ? number(value) : String(value);
  });
}

// A value of one of the APIs' vocabularies (role, category, state...), translated where known.
export function term(kind, value) {
  if (value === null || value === undefined || value === '') return '';
  const key = `${kind}.${value}`;
  return Object.hasOwn(catalogue, key) ? catalogue[key] : String(value);
}

export function translateStatic(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-aria-label]')) el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
}

// Formatters are costly to make (a search page writes thousands of dates): one per language and kind.
const formatters = new Map();
function formatter(kind, make) {
  const key = `${current}:${kind}`;
  if (!formatters.has(key)) formatters.set(key, make(TAGS[current]));
  return formatters.get(key);
}

export function dateTime(value) {
  if (!value) return '';
  return formatter('dateTime', (tag) => new Intl.DateTimeFormat(tag, { dateStyle: 'short', timeStyle: 'medium', timeZone: ZONE_CLOCK })).format(new Date(value));
}

export function dateOnly(value) {
  return formatter('date', (tag) => new Intl.DateTimeFormat(tag, { dateStyle: 'medium', timeZone: ZONE_CLOCK })).format(new Date(value));
}

export function hour(value) {
  return formatter('hour', (tag) => new Intl.DateTimeFormat(tag, { weekday: 'short', hour: '2-digit', minute: '2-digit', timeZone: ZONE_CLOCK })).format(new Date(value));
}

export function number(value, options = {}) {
  const key = `number:${JSON.stringify(options)}`;
  return formatter(key, (tag) => new Intl.NumberFormat(tag, options)).format(value);
}

export function percent(value) {
  return number(value, { style: 'percent', maximumFractionDigits: 1 });
}
