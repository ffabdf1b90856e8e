/**
 * Helpers shared by the page scripts (bundled for the browser into dist/media). Pages build their
 * DOM with these and set untrusted text only through `textContent` / attributes, never as HTML.
 */

/** The API VS Code injects into webviews. */
export interface VsCodeApi<State> {
  postMessage(message: unknown): void;
  getState(): State | undefined;
  setState(state: State): void;
}

declare function acquireVsCodeApi<State>(): VsCodeApi<State>;

export function vscodeApi<State>(): VsCodeApi<State> {
  return acquireVsCodeApi<State>();
}

/** `document.getElementById` that throws when the page skeleton lacks the element. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
}

/**
 * Creates an element with attributes and children. Strings become text nodes, so untrusted
 * text can be passed as a child safely.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | undefined> = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    el.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  return el;
}

export function bytes(n: number | null): string {
  if (n === null) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

export function dateTime(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return 'never';
  const d = new Date(ms);
  const pad = (x: number) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function percent(x: number | null): string {
  return x === null ? '—' : `${Math.round(x * 100)}%`;
}

/**
 * Runs `draw`, which draws the items of `list` anew, without losing the keyboard: when the focus was
 * on an item (an element matching `item`) or a control in it, it goes back to the same control of
 * the item with the same `attr` value; when that item is gone (deleted), to the item itself that
 * took its place (not to its control: a second Enter must not delete again). A page
 * drawn while it does not have the keyboard (behind the palette, or while VS Code moves the focus
 * around a reveal) does not take it: the focus goes back when the page gets the keyboard again.
 */
export function redrawKeepingFocus(list: HTMLElement, item: string, attr: string, draw: () => void): void {
  const active = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const itemOf = active && list.contains(active) ? active.closest<HTMLElement>(item) : null;
  const items = () => Array.from(list.querySelectorAll<HTMLElement>(item));
  const was = itemOf ? { value: itemOf.getAttribute(attr), index: items().indexOf(itemOf), control: itemOf === active ? undefined : active!.dataset.testid } : undefined;
  draw();
  if (!was) return;
  whenFocused(list, () => {
    const now = items();
    const same = now.find((el) => el.getAttribute(attr) === was.value);
    const target = same ? (was.control ? (same.querySelector<HTMLElement>(`[data-testid="${was.control}"]`) ?? same) : same) : now[Math.min(was.index, now.length - 1)];
    target?.focus();
  });
}

let pendingFocus: (() => void) | undefined;
let listening = false;

/**
 * Runs `f`, which puts the focus back into `within`: now if the page has the keyboard, else when it
 * gets it back (the last such `f` only). Never while the focus is somewhere else than on the page's
 * body or inside `within`: the user has put it there meanwhile.
 */
export function whenFocused(within: HTMLElement, f: () => void): void {
  if (document.hasFocus()) {
    pendingFocus = undefined;
    const active = document.activeElement;
    if (!active || active === document.body || within.contains(active)) f();
    return;
  }
  pendingFocus = f;
  if (listening) return;
  listening = true;
  window.addEventListener('focus', () => {
    const g = pendingFocus;
    pendingFocus = undefined;
    if (g && (!document.activeElement || document.activeElement === document.body)) g();
  });
}
