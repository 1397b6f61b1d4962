// The page writes user-controlled text only through textContent: a message body or a note that
// holds `<script>` or `<img onerror>` is shown as those characters, never parsed as HTML. Nothing
// in web/ assigns innerHTML (the CSP forbids inline script too, a second wall).

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}

export function setText(el: HTMLElement, text: string): void {
  el.textContent = text;
}

/** A new element holding `text` as text. */
export function textElement(tag: string, text: string): HTMLElement {
  const el = document.createElement(tag);
  el.textContent = text;
  return el;
}

export type StatusState = 'loading' | 'ready' | 'working' | 'error';

/** The one status line (role=status, so screen readers hear it); `data-state` is what tests wait on. */
export function setStatus(state: StatusState, text: string): void {
  const el = byId('status');
  el.dataset.state = state;
  el.textContent = text;
}

/** A button showing `text`, named `label` for screen readers (which say the label, not the text). */
export function labelledButton(text: string, label: string, onclick: () => void): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.setAttribute('aria-label', label);
  b.onclick = onclick;
  return b;
}
