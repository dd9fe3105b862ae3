import { TOO_FEW, type InsightChart, type InsightRate } from '../../../protocol/insights.ts';

/**
 * Charts as inline SVG, written by hand: no script, no font or stylesheet to fetch, so the HTML
 * report is one self-contained file that opens without network access. Every chart is an
 * <svg class="chart"> with a <title>; a bar or point with too few devices behind it is drawn as
 * an empty outline labelled "too few devices".
 */

export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const W = 560;
const H = 220;
const PAD = { l: 48, r: 12, t: 24, b: 56 };

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  const m = v / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/** A figure as a label: a few significant digits, no trailing zeros after the point (100 stays 100). */
export const num = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2)).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');

function axes(max: number, min: number, unit: string): string {
  const plotH = H - PAD.t - PAD.b;
  const ticks = [0, 0.5, 1].map((f) => {
    const v = min + (max - min) * f;
    const y = PAD.t + plotH * (1 - f);
    return `<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${y}" y2="${y}" class="grid"/><text x="${PAD.l - 4}" y="${y + 4}" text-anchor="end" class="tick axis">${esc(num(v))}</text>`;
  });
  return `${ticks.join('')}<text x="4" y="12" class="unit">${esc(unit)}</text>`;
}

function xLabel(x: number, label: string): string {
  return `<text x="${x}" y="${H - PAD.b + 14}" text-anchor="end" transform="rotate(-30 ${x} ${H - PAD.b + 14})" class="tick">${esc(label)}</text>`;
}

export function chartSvg(c: InsightChart): string {
  const values = c.cells.filter((x) => !x.tooFew).map((x) => x.value!);
  const lo = c.type === 'line' && values.length ? Math.min(...values) : 0;
  const min = c.type === 'line' && lo > 0 && lo > 0.5 * Math.max(...values) ? Math.floor(lo * 0.9) : 0;
  const max = niceMax(Math.max(...values, min + 1e-9));
  const plotW = W - PAD.l - PAD.r;
  const plotH = H - PAD.t - PAD.b;
  const n = Math.max(1, c.cells.length);
  const step = plotW / n;
  const yOf = (v: number) => PAD.t + plotH * (1 - (v - min) / (max - min || 1));
  const parts: string[] = [axes(max, min, c.unit)];
  if (c.type === 'bars') {
    c.cells.forEach((x, i) => {
      const bx = PAD.l + i * step + step * 0.15;
      const bw = step * 0.7;
      if (x.tooFew) {
        parts.push(`<rect x="${bx}" y="${PAD.t}" width="${bw}" height="${plotH}" class="few"><title>${esc(`${x.label}: ${TOO_FEW}`)}</title></rect><text x="${bx + bw / 2}" y="${PAD.t + plotH / 2}" text-anchor="middle" class="few-text">too few</text>`);
      } else {
        const y = yOf(x.value!);
        parts.push(`<rect x="${bx}" y="${y}" width="${bw}" height="${PAD.t + plotH - y}" class="bar"><title>${esc(`${x.label}: ${x.value} ${c.unit} (${x.devices} devices)`)}</title></rect><text x="${bx + bw / 2}" y="${y - 3}" text-anchor="middle" class="val">${esc(num(x.value!))}</text>`);
      }
      parts.push(xLabel(bx + bw / 2, x.label));
    });
  } else {
    let path = '';
    c.cells.forEach((x, i) => {
      const px = PAD.l + i * step + step / 2;
      if (x.tooFew) {
        path += ' ';
        parts.push(`<circle cx="${px}" cy="${PAD.t + plotH - 4}" r="4" class="few"><title>${esc(`${x.label}: ${TOO_FEW}`)}</title></circle>`);
      } else {
        const py = yOf(x.value!);
        path += `${path.endsWith(' ') || path === '' ? 'M' : 'L'}${px.toFixed(1)},${py.toFixed(1)}`;
        parts.push(`<circle cx="${px}" cy="${py}" r="3.5" class="dot"><title>${esc(`${x.label}: ${x.value} ${c.unit} (${x.devices} devices)`)}</title></circle>`);
      }
      parts.push(xLabel(px, x.label));
    });
    parts.unshift(`<path d="${path.trim().replace(/ +/g, ' ')}" class="line"/>`);
  }
  return `<svg class="chart" data-chart="${esc(c.id)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(c.title)}" xmlns="http://www.w3.org/2000/svg"><title>${esc(c.title)}</title>${parts.join('')}</svg>`;
}

/** Error rates as horizontal bars with their confidence interval as a whisker. */
export function ratesSvg(title: string, rates: InsightRate[]): string {
  const rowH = 26;
  const labelW = 270;
  const h = rates.length * rowH + 24;
  const shown = rates.filter((r) => !r.tooFew);
  const max = niceMax(Math.max(...shown.map((r) => r.upper!), 1e-9));
  const plotW = W + 140 - labelW - 16;
  const xOf = (v: number) => labelW + (plotW * v) / max;
  const rows = rates.map((r, i) => {
    const y = 8 + i * rowH;
    const label = `<text x="${labelW - 6}" y="${y + 14}" text-anchor="end" class="tick">${esc(r.label)}</text>`;
    if (r.tooFew) return `${label}<rect x="${labelW}" y="${y + 3}" width="${plotW}" height="${rowH - 8}" class="few"><title>${esc(`${r.label}: ${TOO_FEW}`)}</title></rect><text x="${labelW + 6}" y="${y + 15}" class="few-text">too few devices</text>`;
    return `${label}<rect x="${labelW}" y="${y + 4}" width="${xOf(r.rate!) - labelW}" height="${rowH - 10}" class="bar"><title>${esc(`${r.label}: ${r.rate} per ${r.per} (CI ${r.lower}–${r.upper}; ${r.events} errors over ${r.exposure}, ${r.devices} devices)`)}</title></rect>`
      + `<line x1="${xOf(r.lower!)}" x2="${xOf(r.upper!)}" y1="${y + rowH / 2 - 1}" y2="${y + rowH / 2 - 1}" class="ci"/><text x="${Math.min(xOf(r.upper!) + 4, W + 100)}" y="${y + 15}" class="val">${esc(num(r.rate!))}</text>`;
  });
  return `<svg class="chart" data-chart="rates" viewBox="0 0 ${W + 140} ${h}" width="${W + 140}" height="${h}" role="img" aria-label="${esc(title)}" xmlns="http://www.w3.org/2000/svg"><title>${esc(title)}</title>${rows.join('')}<text x="${labelW}" y="${h - 4}" class="unit">0</text><text x="${labelW + plotW}" y="${h - 4}" text-anchor="end" class="unit">${esc(num(max))} per ${esc(rates[0]?.per ?? '')}</text></svg>`;
}
