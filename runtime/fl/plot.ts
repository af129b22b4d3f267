/**
 * A learning curve as a standalone SVG document: test accuracy (left axis, 0-1) and loss (right axis) by
 * round, and epsilon spent when the run is private. Plain SVG 1.1 text, so it renders in any browser and
 * works in Node and browsers alike.
 * @module
 */
import type { RoundRow } from './simulate.js';

const W = 720, H = 400, L = 60, R = 60, T = 40, B = 50;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Rounds the upper end of an axis to 1, 2 or 5 times a power of ten. */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v)!;
}

/** The SVG text of a learning curve for `rows` (at least one). */
export function learningCurveSvg(rows: Pick<RoundRow, 'round' | 'accuracy' | 'loss' | 'epsilon'>[], title: string): string {
  if (!rows.length) throw new RangeError('learningCurveSvg: rows must hold at least one round');
  const last = rows[rows.length - 1]!.round, first = rows[0]!.round;
  const span = Math.max(1, last - first);
  const x = (r: number) => L + ((r - first) / span) * (W - L - R);
  const yAcc = (a: number) => T + (1 - a) * (H - T - B);
  const lossMax = niceMax(Math.max(...rows.map((r) => (Number.isFinite(r.loss) ? r.loss : 0))));
  const yLoss = (l: number) => T + (1 - Math.min(l, lossMax) / lossMax) * (H - T - B);
  const line = (pts: [number, number][]) => pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ');
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>`);
  for (let i = 0; i <= 10; i += 2) {
    const a = i / 10, y = yAcc(a);
    out.push(`<line x1="${L}" y1="${y}" x2="${W - R}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${L - 6}" y="${y + 4}" text-anchor="end">${a.toFixed(1)}</text>`);
    out.push(`<text x="${W - R + 6}" y="${y + 4}" fill="#c0392b">${((lossMax * i) / 10).toPrecision(2)}</text>`);
  }
  const ticks = Math.min(10, span);
  for (let i = 0; i <= ticks; i++) {
    const r = Math.round(first + (i * span) / ticks);
    out.push(`<text x="${x(r).toFixed(1)}" y="${H - B + 18}" text-anchor="middle">${r}</text>`);
  }
  out.push(`<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`);
  out.push(`<text x="${W / 2}" y="${H - 12}" text-anchor="middle">round</text>`);
  out.push(`<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle" fill="#2c6fbb">test accuracy</text>`);
  out.push(`<text transform="translate(${W - 14} ${(T + H - B) / 2}) rotate(90)" text-anchor="middle" fill="#c0392b">test loss</text>`);
  out.push(`<polyline fill="none" stroke="#c0392b" stroke-width="1.5" stroke-dasharray="4 3" points="${line(rows.map((r) => [x(r.round), yLoss(r.loss)]))}"/>`);
  out.push(`<polyline fill="none" stroke="#2c6fbb" stroke-width="2" points="${line(rows.map((r) => [x(r.round), yAcc(r.accuracy)]))}"/>`);
  const fin = rows[rows.length - 1]!;
  const eps = fin.epsilon === null ? '' : `, ε ${fin.epsilon.toFixed(2)}`;
  out.push(`<text x="${W - R}" y="${T - 6}" text-anchor="end">final accuracy ${fin.accuracy.toFixed(4)}, loss ${fin.loss.toFixed(4)}${eps}</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
