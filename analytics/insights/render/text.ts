import { TOO_FEW, type InsightChart, type InsightComparison, type InsightRate, type InsightsReport, type KindInsight, type ModelInsight } from '../../../protocol/insights.ts';
import { chartSvg, esc, ratesSvg } from './svg.ts';

/** The report in words and tables (Markdown) and as one self-contained HTML page with inline SVG charts. */

const pctLevel = (r: InsightsReport) => `${Math.round(r.level * 100)}%`;
const day = (iso: string) => iso.slice(0, 10);

function rateCells(r: InsightRate): string[] {
  if (r.tooFew) return [r.label, TOO_FEW, '', '', ''];
  return [r.label, `${r.rate}`, `${r.lower}–${r.upper}`, `${r.events} / ${r.exposure}`, `${r.devices}`];
}

function cmpText(c: InsightComparison, level: string): string {
  if (c.tooFew) return `${c.title}: ${TOO_FEW}`;
  return `${c.title}: ${c.ratio}× (${level} CI ${c.lower}–${c.upper}×)${c.differs ? '' : ', no clear difference'}`;
}

function chartTable(c: InsightChart): string[] {
  return [`**${c.title}** (${c.unit})`, '', `| ${c.x} | ${c.unit} | devices |`, '|---|---:|---:|', ...c.cells.map((x) => (x.tooFew ? `| ${x.label} | ${TOO_FEW} | |` : `| ${x.label} | ${x.value} | ${x.devices} |`)), ''];
}

function modelMd(m: ModelInsight, r: InsightsReport): string[] {
  const head = `## ${m.model}${m.name ? ` — ${m.name}` : ''} (${m.kind}${m.capacity ? `, ${m.capacity}` : ''})`;
  if (m.tooFew) return [head, '', `*${TOO_FEW}*: fewer than ${r.minDevices} devices with the analytics consent reported in the period; no figure is shown.`, ''];
  const out = [head, '', `${m.devices} devices.`, '', '### Findings', '', ...m.findings.map((f) => `- ${f}`), '', '### How it is used', ''];
  for (const c of m.usage) out.push(...chartTable(c));
  out.push('### After-sales linked to usage', '', `| group | errors per ${m.afterSales.rates[0]?.per ?? ''} | ${pctLevel(r)} CI | errors / exposure | devices |`, '|---|---:|---:|---:|---:|');
  for (const x of m.afterSales.rates) out.push(`| ${rateCells(x).join(' | ')} |`);
  out.push('', ...m.afterSales.comparisons.map((c) => `- ${cmpText(c, pctLevel(r))}`), '', '### Opportunities', '');
  const o = m.opportunities.outgrowing;
  if (o) {
    if (o.tooFew) out.push(`- Owners outgrowing the model: ${TOO_FEW}`);
    else {
      out.push(`- Owners outgrowing the model: ${o.share}% (${pctLevel(r)} CI ${o.lower}–${o.upper}%), ${o.outgrowing} of ${o.eligible}`);
      for (const n of o.needs) out.push(`  - would need ${n.label}: ${n.tooFew ? TOO_FEW : `${n.value}% of them (${n.devices} devices)`}`);
    }
  }
  for (const p of m.opportunities.rarePrograms) out.push(`- Program almost nobody uses: ${p.program} (${p.washShare}% of washes, ${p.ownerShare}% of owners)`);
  if (!o && m.opportunities.rarePrograms.length === 0) out.push('- none found');
  out.push('', '### Month over month', '');
  for (const c of m.trends) out.push(...chartTable(c));
  return out;
}

function kindMd(k: KindInsight, r: InsightsReport): string[] {
  const head = `## ${k.kind[0].toUpperCase()}${k.kind.slice(1)}s as a whole`;
  if (k.tooFew) return [head, '', `*${TOO_FEW}*.`, ''];
  const out = [head, '', `${k.devices} devices, every model pooled.`, '', `| group | errors per ${k.afterSales.rates[0]?.per ?? ''} | ${pctLevel(r)} CI | errors / exposure | devices |`, '|---|---:|---:|---:|---:|'];
  for (const x of k.afterSales.rates) out.push(`| ${rateCells(x).join(' | ')} |`);
  out.push('', ...k.afterSales.comparisons.map((c) => `- ${cmpText(c, pctLevel(r))}`), '');
  return out;
}

function scope(r: InsightsReport): string {
  const f = [r.filter.kind && `kind ${r.filter.kind}`, r.filter.model && `model ${r.filter.model}`].filter(Boolean).join(', ');
  return `${day(r.from)} to ${day(r.to)} (end excluded)${f ? `, ${f}` : ''}`;
}

const PRIVACY = (r: InsightsReport) => `Aggregates only, of devices whose owners consented to analytics; nothing built from fewer than ${r.minDevices} devices is shown ("${TOO_FEW}"); intervals are ${pctLevel(r)} confidence intervals.`;

export function insightsMarkdown(r: InsightsReport): string {
  const out = [`# Product insights — ${scope(r)}`, '', PRIVACY(r), ''];
  if (r.findings.length) out.push('## Across models', '', ...r.findings.map((f) => `- ${f}`), '');
  for (const k of r.kinds) out.push(...kindMd(k, r));
  for (const m of r.models) out.push(...modelMd(m, r));
  return `${out.join('\n').trimEnd()}\n`;
}

const CSS = `body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:980px;padding:0 1rem;color:#1d2330}
h1{font-size:1.6rem}h2{border-top:2px solid #d8dde6;padding-top:1rem;margin-top:2.5rem}h3{margin-top:1.5rem}
.note{color:#4b5566}.few-model{background:#f3f4f7;padding:.75rem 1rem;border-radius:6px}
.charts{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0}figcaption{font-weight:600;margin:.25rem 0}
svg.chart{max-width:100%;height:auto;background:#fff;border:1px solid #e3e6ec;border-radius:6px}
svg .bar{fill:#3a6ea5}svg .dot{fill:#3a6ea5}svg .line{fill:none;stroke:#3a6ea5;stroke-width:2}svg .ci{stroke:#1d2330;stroke-width:2}
svg .few{fill:#f3f4f7;stroke:#b8beca;stroke-dasharray:4 3}svg .few-text{font-size:11px;fill:#6b7383}
svg .grid{stroke:#eceef3}svg .tick,svg .val,svg .unit{font-size:11px;fill:#4b5566}
table{border-collapse:collapse;margin:.5rem 0}td,th{border-bottom:1px solid #e3e6ec;padding:.25rem .6rem;text-align:right}td:first-child,th:first-child{text-align:left}
ul.findings li{margin:.25rem 0}`;

function modelHtml(m: ModelInsight, r: InsightsReport): string {
  const head = `<h2 id="${esc(m.model)}">${esc(m.model)}${m.name ? ` — ${esc(m.name)}` : ''} <small>(${esc(m.kind)}${m.capacity ? `, ${esc(m.capacity)}` : ''})</small></h2>`;
  if (m.tooFew) return `<section class="model">${head}<p class="few-model"><strong>${TOO_FEW}</strong>: fewer than ${r.minDevices} devices with the analytics consent reported in the period; no figure is shown.</p></section>`;
  const fig = (c: InsightChart) => `<figure><figcaption>${esc(c.title)}</figcaption>${chartSvg(c)}</figure>`;
  const rows = m.afterSales.rates.map((x) => `<tr>${rateCells(x).map((v) => `<td>${esc(v)}</td>`).join('')}</tr>`).join('');
  const o = m.opportunities.outgrowing;
  const opp: string[] = [];
  if (o) {
    opp.push(o.tooFew ? `<li>Owners outgrowing the model: ${TOO_FEW}</li>` : `<li>Owners outgrowing the model: <strong>${o.share}%</strong> (${pctLevel(r)} CI ${o.lower}–${o.upper}%), ${o.outgrowing} of ${o.eligible}<ul>${o.needs.map((n) => `<li>would need ${esc(n.label)}: ${n.tooFew ? TOO_FEW : `${n.value}% of them (${n.devices} devices)`}</li>`).join('')}</ul></li>`);
  }
  for (const p of m.opportunities.rarePrograms) opp.push(`<li>Program almost nobody uses: ${esc(p.program)} (${p.washShare}% of washes, ${p.ownerShare}% of owners)</li>`);
  if (opp.length === 0) opp.push('<li>none found</li>');
  return `<section class="model">${head}<p>${m.devices} devices.</p>
<h3>Findings</h3><ul class="findings">${m.findings.map((f) => `<li>${esc(f)}</li>`).join('')}</ul>
<h3>How it is used</h3><div class="charts">${m.usage.map(fig).join('')}</div>
<h3>After-sales linked to usage</h3><figure><figcaption>Errors per ${esc(m.afterSales.rates[0]?.per ?? '')}, with their ${pctLevel(r)} confidence interval</figcaption>${ratesSvg(`Errors per ${m.afterSales.rates[0]?.per ?? ''}`, m.afterSales.rates)}</figure>
<table><thead><tr><th>group</th><th>rate</th><th>${pctLevel(r)} CI</th><th>errors / exposure</th><th>devices</th></tr></thead><tbody>${rows}</tbody></table>
<ul>${m.afterSales.comparisons.map((c) => `<li>${esc(cmpText(c, pctLevel(r)))}</li>`).join('')}</ul>
<h3>Opportunities</h3><ul>${opp.join('')}</ul>
<h3>Month over month</h3><div class="charts">${m.trends.map(fig).join('')}</div></section>`;
}

function kindHtml(k: KindInsight, r: InsightsReport): string {
  const head = `<h2>${esc(k.kind[0].toUpperCase() + k.kind.slice(1))}s as a whole</h2>`;
  if (k.tooFew) return `<section class="kind">${head}<p class="few-model"><strong>${TOO_FEW}</strong>.</p></section>`;
  const per = k.afterSales.rates[0]?.per ?? '';
  const rows = k.afterSales.rates.map((x) => `<tr>${rateCells(x).map((v) => `<td>${esc(v)}</td>`).join('')}</tr>`).join('');
  return `<section class="kind">${head}<p>${k.devices} devices, every model pooled.</p>
<figure><figcaption>Errors per ${esc(per)} by usage band, with their ${pctLevel(r)} confidence interval</figcaption>${ratesSvg(`Errors per ${per}`, k.afterSales.rates)}</figure>
<table><thead><tr><th>group</th><th>rate</th><th>${pctLevel(r)} CI</th><th>errors / exposure</th><th>devices</th></tr></thead><tbody>${rows}</tbody></table>
<ul>${k.afterSales.comparisons.map((c) => `<li>${esc(cmpText(c, pctLevel(r)))}</li>`).join('')}</ul></section>`;
}

export function insightsHtml(r: InsightsReport): string {
  const title = `Product insights — ${scope(r)}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body><h1>${esc(title)}</h1><p class="note">${esc(PRIVACY(r))} Generated ${esc(r.generatedAt)}.</p>
${r.findings.length ? `<h2>Across models</h2><ul class="findings">${r.findings.map((f) => `<li>${esc(f)}</li>`).join('')}</ul>` : ''}
${r.kinds.map((k) => kindHtml(k, r)).join('\n')}
<nav><p>${r.models.map((m) => `<a href="#${esc(m.model)}">${esc(m.model)}</a>`).join(' · ')}</p></nav>
${r.models.map((m) => modelHtml(m, r)).join('\n')}
</body></html>
`;
}
