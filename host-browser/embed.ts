/**
 * The one-script embed: a page joins a coordinator's federated task with one tag.
 * ```html
 * <script type="module" src="https://fl.example.org/meshwork.js"
 *         data-coordinator="https://fl.example.org" data-task="digits" data-status="fl-status"></script>
 * ```
 * Attributes: `data-coordinator` (default: the origin the script came from), `data-task` (the task name the
 * page expects), `data-status` (id of an element that gets a one-line status), `data-db` (IndexedDB name),
 * `data-hybrid` (sign hybrid, Ed25519 + ML-DSA-65: the `hybrid` option of `join`).
 * The participant's events are re-dispatched on `window` as `meshwork:state`, `meshwork:progress` and
 * `meshwork:error` (CustomEvent, same `detail`), and `window.meshwork = { participant }`.
 * Built by scripts/build-embed.mjs into dist/web/embed/meshwork.js (served by the coordinator).
 * @module
 */
import { join, type ErrorDetail, type Participant, type ProgressDetail, type StateDetail } from './participant.js';

declare global {
  interface Window {
    meshwork?: { participant: Participant };
  }
}

/** The script element that loaded this module (module scripts have no document.currentScript). */
function ownScript(): HTMLScriptElement | null {
  const self = import.meta.url;
  for (const s of Array.from(document.querySelectorAll<HTMLScriptElement>('script[src]'))) if (s.src === self) return s;
  return document.querySelector<HTMLScriptElement>('script[data-coordinator]');
}

function statusLine(d: StateDetail, p: Participant): string {
  const who = p.id ? ` (${p.id})` : '';
  const r = d.round ? ` round ${d.round}` : '';
  switch (d.state) {
    case 'joining': return 'meshwork: joining…';
    case 'waiting': return `meshwork${who}: waiting for a round${d.round ? ` (now${r})` : ''}`;
    case 'training': return `meshwork${who}: training${r}${d.resumed ? ' (resumed)' : ''}`;
    case 'submitting': return `meshwork${who}: submitting${r}${d.resumed ? ' (resumed)' : ''}`;
    case 'submitted': return `meshwork${who}: submitted${r}`;
    case 'paused': return `meshwork${who}: paused: ${d.reason ?? ''}`;
    case 'done': return `meshwork${who}: done${d.reason ? ` (${d.reason})` : ''}`;
    case 'error': return `meshwork${who}: error: ${d.reason ?? ''}`;
  }
}

function start(): void {
  const script = ownScript();
  const ds = script?.dataset ?? {};
  // Default: the folder the script came from (a string operation: a literal `new URL('./', import.meta.url)`
  // is taken by bundlers for a file reference).
  const coordinator = ds.coordinator || import.meta.url.replace(/[^/]*([?#].*)?$/, '');
  const statusEl = ds.status ? document.getElementById(ds.status) : null;
  let participant: Participant;
  try {
    participant = join({ coordinator, ...(ds.task ? { task: ds.task } : {}), ...(ds.db ? { dbName: ds.db } : {}), ...(ds.hybrid !== undefined && ds.hybrid !== 'false' ? { hybrid: true } : {}) });
  } catch (e) {
    if (statusEl) statusEl.textContent = `meshwork: ${(e as Error).message}`;
    window.dispatchEvent(new CustomEvent<Partial<ErrorDetail>>('meshwork:error', { detail: { message: (e as Error).message, fatal: true, round: 0, error: e } }));
    throw e;
  }
  participant.addEventListener('state', (e) => {
    const d = (e as CustomEvent<StateDetail>).detail;
    if (statusEl) statusEl.textContent = statusLine(d, participant);
    window.dispatchEvent(new CustomEvent<StateDetail>('meshwork:state', { detail: d }));
  });
  participant.addEventListener('progress', (e) => {
    window.dispatchEvent(new CustomEvent<ProgressDetail>('meshwork:progress', { detail: (e as CustomEvent<ProgressDetail>).detail }));
  });
  participant.addEventListener('error', (e) => {
    window.dispatchEvent(new CustomEvent<ErrorDetail>('meshwork:error', { detail: (e as CustomEvent<ErrorDetail>).detail }));
  });
  window.meshwork = { participant };
}

start();
