// Search in this browser's history: the core's searchHistory (client/core/search.ts) opens the
// sealed bodies in the page and matches them; the matches are listed as text, each a button that
// opens its conversation. Escape (or an empty search) closes the list.
import { searchHistory, type SearchHit } from '../../client/core/search.js';
import { byId, setText, textElement } from './dom.js';
import { select, showFailure, type Feature, type Session } from './session.js';

function close(): void {
  byId('search-results').hidden = true;
  byId('search-hits').replaceChildren();
  setText(byId('search-summary'), '');
}

function hitItem(s: Session, h: SearchHit): HTMLElement {
  const b = document.createElement('button');
  b.type = 'button';
  // Who wrote, where the label does not already say it (a chat with @bob: bob or you).
  const who = h.direction === 'out' ? ['you'] : h.ref.kind === 'group' ? [`@${h.from}`] : [];
  const when = new Date(h.direction === 'in' ? (h.receivedAt ?? h.sentAt) : h.sentAt).toLocaleString();
  b.append(textElement('span', [h.label, ...who, when].join(' · ')), textElement('span', h.text));
  b.dataset.conversation = h.label;
  b.onclick = () => {
    close();
    select(s, h.ref);
  };
  const li = document.createElement('li');
  li.append(b);
  return li;
}

function run(s: Session): void {
  const query = byId<HTMLInputElement>('search-query').value;
  const hits = searchHistory(s.c, query);
  byId('search-hits').replaceChildren(...hits.map((h) => hitItem(s, h)));
  setText(byId('search-summary'), hits.length === 0 ? `No message holds “${query.trim()}”.` : `${hits.length} ${hits.length === 1 ? 'message holds' : 'messages hold'} “${query.trim()}”:`);
  byId('search-results').hidden = false;
}

export const search: Feature = {
  start(s) {
    close();
    const form = byId<HTMLFormElement>('search-form');
    form.onsubmit = (e) => {
      e.preventDefault();
      try {
        run(s);
      } catch (err) {
        showFailure(err);
      }
    };
    byId('search-query').oninput = (e) => {
      if ((e.target as HTMLInputElement).value === '') close();
    };
    const onEscape = (e: KeyboardEvent): void => {
      if (e.key !== 'Escape' || byId('search-results').hidden) return;
      e.preventDefault(); // handled: look.ts does not also go back to the list
      close();
      byId('search-query').focus();
    };
    form.onkeydown = onEscape;
    byId('search-results').onkeydown = onEscape;
  },
  stop() {
    close();
  },
};
