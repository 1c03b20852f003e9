"""The page's CSS and JavaScript: layout, citation markers that open their source, the phone
layout, scrolling to an answer's first line."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


CSS = """
.ta-sources, .ta-related { margin-top: .75em; padding-top: .5em; font-size: .92em;
  border-top: 1px solid var(--border-color-primary); }
.ta-sources-title { font-weight: 600; margin-bottom: .25em; }
.ta-source, .ta-reading { margin: .2em 0; }
.ta-source > summary, .ta-reading > summary { cursor: pointer; }
.ta-citation { margin: .3em 0 0 1.2em; }
.ta-passage-head { font-size: .92em; }
.ta-ref { color: var(--color-accent); cursor: pointer; text-decoration: underline dotted; }
.ta-ref:focus-visible { outline: 2px solid var(--color-accent); border-radius: 3px; }
.ta-citation.ta-shown > .ta-passage-head { background: var(--color-accent-soft); border-radius: 4px; }
.ta-hidden { display: none; }
.ta-context > summary, .ta-read-on > summary { cursor: pointer; font-size: .9em; }
.ta-context-section { font-weight: 600; font-size: .9em; margin-top: .3em; }
.ta-para { margin: .35em 0; font-size: .92em; }
.ta-here mark { background: #fde68a; color: inherit; padding: 0 .1em; }
.ta-copy-bar { margin-top: .4em; font-size: .85em; }
.ta-copy { cursor: pointer; margin-right: 1em; text-decoration: underline dotted; }
.ta-copy.ta-copied::after { content: " ✓"; }
.ta-tag { display: inline-block; margin-left: .35em; padding: 0 .5em; border-radius: 999px;
  font-size: .82em; background: var(--color-accent-soft); white-space: nowrap; }
.ta-detail { margin: .2em 0 0 1.2em; }
.ta-reports { margin: .2em 0 .2em 0; font-size: .92em; color: var(--body-text-color-subdued); }
.ta-quote { margin: .3em 0 .6em 0; padding-left: .7em; border-left: 3px solid var(--color-accent); }
.ta-error { color: var(--error-text-color, #b91c1c); }
.ta-compare { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 1.2em; }
@media (max-width: 900px) { .ta-compare { grid-template-columns: minmax(0, 1fr); } }
#chat { overflow-wrap: anywhere; }
/* a phone: the mode and filters, in their collapsible panel, above the chat */
@media (max-width: 700px) { #layout { flex-direction: column-reverse; } }
.ta-perspective-title { font-weight: 600; margin-bottom: .3em; }
.ta-abstained { font-style: italic; color: var(--body-text-color-subdued); }
.ta-source-table { width: 100%; border-collapse: collapse; font-size: .9em; }
.ta-source-table th, .ta-source-table td { text-align: left; vertical-align: top; padding: .3em .5em;
  border-bottom: 1px solid var(--border-color-primary); }
.ta-original { font-size: .9em; color: var(--body-text-color-subdued); }
.ta-source-table a { white-space: nowrap; }
"""


JS = """() => {
  // a [n] marker opens its passage under the same answer: by click, Enter or Space
  const show = (marker) => {
    const message = marker.closest('[data-testid="bot"]') || document;
    // the sanitiser keeps classes, not data attributes: the number travels as a class, ta-n-<n>
    const number = [...marker.classList].find((c) => c.startsWith('ta-n-'));
    const passage = number && message.querySelector(`.ta-citation.${number}`);
    if (!passage) return;
    passage.closest('details').open = true;
    const context = passage.querySelector('details.ta-context');
    if (context) context.open = true;
    message.querySelectorAll('.ta-citation.ta-shown').forEach((p) => p.classList.remove('ta-shown'));
    passage.classList.add('ta-shown');
    passage.scrollIntoView({block: 'nearest'});
  };
  // "Copy as text" / "Copy as Markdown" under an answer copy that answer's hidden text
  const copy = async (button) => {
    const form = button.classList.contains('ta-copy-markdown') ? 'markdown' : 'plain';
    const source = button.closest('.ta-copy-bar').querySelector(`.ta-copy-${form}-source`);
    await navigator.clipboard.writeText(source.textContent);
    button.classList.add('ta-copied');
  };
  const act = (e) => {
    const marker = e.target.closest && e.target.closest('.ta-ref');
    const button = e.target.closest && e.target.closest('.ta-copy');
    if (marker) { e.preventDefault(); show(marker); }
    if (button) { e.preventDefault(); copy(button); }
  };
  // a finished answer scrolls so that its first line is in view, not its source list
  const done = '.ta-sources, .ta-related, .ta-error, .ta-compare';
  let answered = 0;
  new MutationObserver(() => {
    const bots = document.querySelectorAll('#chat [data-testid="bot"]');
    const last = bots[bots.length - 1];
    if (!last || bots.length === answered || !last.querySelector(done)) return;
    answered = bots.length;
    const scroller = (el) => {
      for (let box = el.parentElement; box; box = box.parentElement) {
        const style = getComputedStyle(box).overflowY;
        if ((style === 'auto' || style === 'scroll') && box.scrollHeight > box.clientHeight) return box;
      }
      return null;
    };
    const toTop = () => {
      const box = scroller(last);
      if (box) box.scrollTop += last.getBoundingClientRect().top - box.getBoundingClientRect().top;
    };
    // after the chat's own scroll to the bottom, which follows each update
    [50, 250, 600].forEach((ms) => setTimeout(toTop, ms));
  }).observe(document.body, {subtree: true, childList: true});
  // on a phone the filters panel starts closed, so the chat is in view
  if (window.innerWidth < 700) {
    const open = () => {
      const header = document.querySelector('#filters-panel button');
      if (header) header.click(); else setTimeout(open, 100);
    };
    open();
  }
  document.addEventListener('click', act);
  document.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') act(e); });
}"""
