// The trigger inbox: lists triggers through the analytics API, shows one's evidence in plain
// words with a small chart, and records the outcome. Plain script, no build step.
'use strict';

const $ = (sel) => document.querySelector(sel);
const state = { token: localStorage.getItem('ug-token') || '', next: undefined, selected: undefined };

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { authorization: `Bearer ${state.token}`, 'content-type': 'application/json', ...(init.headers || {}) } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${res.status}`);
  return body;
}

function say(text) {
  $('#message').textContent = text || '';
}

async function loadFilters() {
  const [rules, models] = await Promise.all([api('/api/rules'), api('/api/models')]);
  $('#filters [name=rule]').innerHTML = '<option value="">all</option>' + rules.map((r) => `<option value="${esc(r.id)}">${esc(r.id)}</option>`).join('');
  $('#filters [name=model]').innerHTML = '<option value="">all</option>' + models.map((m) => `<option value="${esc(m.id)}">${esc(m.id)} · ${esc(m.name)}</option>`).join('');
}

function query() {
  const p = new URLSearchParams();
  for (const el of $('#filters').elements) if (el.name && el.value) p.set(el.name, el.value);
  p.set('limit', '50');
  return p;
}

async function loadList(append = false) {
  const p = query();
  if (append && state.next) p.set('before', state.next);
  try {
    const page = await api(`/api/triggers?${p}`);
    const rows = page.items.map((t) => `<tr data-id="${esc(t.id)}">
      <td>${esc(t.createdAt.slice(0, 16).replace('T', ' '))}</td>
      <td><span class="cat cat-${esc(t.category)}">${esc(t.category)}</span>${t.sensitive ? ' <span class="sensitive" title="Sensitive: handle in person, with care">sensitive</span>' : ''}</td>
      <td>${esc(t.ruleId)}</td><td>${esc(t.deviceId)}</td><td>${esc(t.model)}</td>
      <td>${esc(t.offer.label || t.offer.type)}${t.offer.target ? ` → ${esc(t.offer.target)}` : ''}</td>
      <td class="status">${esc(t.status)}</td></tr>`).join('');
    const body = $('#triggers tbody');
    body.innerHTML = append ? body.innerHTML + rows : rows;
    state.next = page.next;
    $('#more').hidden = !page.next;
    say(body.children.length === 0 ? 'No triggers match these filters.' : '');
  } catch (err) {
    say(err.message);
  }
}

/** A bar per day, a dashed line at the threshold; null days are left empty. */
function chart(series) {
  if (!series || series.points.length === 0) return '';
  const w = 420, h = 140, pad = 24;
  const vals = series.points.map((p) => p[1]);
  const max = Math.max(...vals.filter((v) => v !== null), series.threshold ?? 0, 1e-9);
  const bw = (w - pad * 2) / vals.length;
  const y = (v) => h - pad - (v / max) * (h - pad * 2);
  const bars = vals.map((v, i) => (v === null ? '' : `<rect class="bar" x="${(pad + i * bw).toFixed(1)}" y="${y(v).toFixed(1)}" width="${Math.max(1, bw - 1).toFixed(1)}" height="${(h - pad - y(v)).toFixed(1)}"><title>${esc(series.points[i][0].slice(0, 10))}: ${v}</title></rect>`)).join('');
  const th = series.threshold !== undefined ? `<line class="threshold" x1="${pad}" x2="${w - pad}" y1="${y(series.threshold)}" y2="${y(series.threshold)}"/><text x="${w - pad}" y="${y(series.threshold) - 3}" text-anchor="end">threshold ${series.threshold}</text>` : '';
  return `<svg role="img" aria-label="${esc(series.label)}" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">
    <text x="${pad}" y="12">${esc(series.label)}${series.unit ? ` (${esc(series.unit)})` : ''} · max ${Math.round(max * 100) / 100}</text>
    <line x1="${pad}" x2="${w - pad}" y1="${h - pad}" y2="${h - pad}" stroke="#bbb"/>${bars}${th}
    <text x="${pad}" y="${h - 8}">${esc(series.points[0][0].slice(0, 10))}</text>
    <text x="${w - pad}" y="${h - 8}" text-anchor="end">${esc(series.points[series.points.length - 1][0].slice(0, 10))}</text></svg>`;
}

function rows(obj) {
  return Object.entries(obj).map(([k, v]) => `<tr><td>${esc(k.replace(/_/g, ' '))}</td><td>${esc(v)}</td></tr>`).join('');
}

async function show(id) {
  try {
    const t = await api(`/api/triggers/${encodeURIComponent(id)}`);
    state.selected = t;
    for (const tr of document.querySelectorAll('#triggers tbody tr')) tr.classList.toggle('selected', tr.dataset.id === id);
    $('#detail').hidden = false;
    $('#d-title').textContent = `${t.ruleId} · ${t.deviceId}`;
    $('#d-summary').textContent = t.evidence.summary;
    $('#d-chart').innerHTML = chart(t.evidence.series);
    const facts = {
      Category: t.category, Offer: `${t.offer.label || t.offer.type}${t.offer.target ? ` → ${t.offer.target}` : ''}`,
      Device: `${t.deviceId} (${t.kind}, ${t.model})`, Owner: t.owner,
      Window: `${t.evidence.window.from.slice(0, 10)} to ${t.evidence.window.to.slice(0, 10)}`, Rule: `${t.ruleId} v${t.ruleVersion}`, Created: t.createdAt,
    };
    // How sure the rule was, in its own words (the bound or margin it cleared).
    if (t.evidence.confidence) facts.Confidence = t.evidence.confidence.summary;
    if (t.sensitive) facts.Sensitive = 'A change in how a household uses its products can have personal causes (bereavement, job loss): a person handles this one, with care.';
    if (t.evidence.cohort) facts.Cohort = `${t.evidence.cohort.devices} ${t.evidence.cohort.model} devices; median ${t.evidence.cohort.percentiles.p50}`;
    $('#d-facts').innerHTML = Object.entries(facts).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('');
    $('#d-figures tbody').innerHTML = rows(t.evidence.figures);
    $('#d-thresholds tbody').innerHTML = rows(t.evidence.thresholds);
    $('#d-status').textContent = t.feedback.length ? `Recorded: ${t.status} (${t.feedback.at(-1).at.slice(0, 16).replace('T', ' ')})` : 'No outcome recorded yet.';
  } catch (err) {
    say(err.message);
  }
}

async function record(outcome) {
  const t = state.selected;
  if (!t) return;
  try {
    const rec = await api(`/api/triggers/${encodeURIComponent(t.id)}/feedback`, { method: 'POST', body: JSON.stringify({ outcome, by: 'inbox' }) });
    const row = document.querySelector(`#triggers tbody tr[data-id="${CSS.escape(t.id)}"] .status`);
    if (row) row.textContent = rec.status;
    await show(t.id);
  } catch (err) {
    say(err.message);
  }
}

async function init() {
  $('#token').value = state.token;
  $('#login').addEventListener('submit', async (e) => {
    e.preventDefault();
    state.token = $('#token').value.trim();
    localStorage.setItem('ug-token', state.token);
    await start();
  });
  $('#filters').addEventListener('change', () => loadList());
  $('#more').addEventListener('click', () => loadList(true));
  $('#triggers tbody').addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-id]');
    if (tr) show(tr.dataset.id);
  });
  for (const b of document.querySelectorAll('#d-actions button')) b.addEventListener('click', () => record(b.dataset.outcome));
  if (state.token) await start();
  else say('Enter the API token to see the triggers.');
}

async function start() {
  try {
    await loadFilters();
    await loadList();
  } catch (err) {
    say(err.message);
  }
}

init();
