"""JavaScript run inside the rendered page (through CDP, so it works with page scripts disabled).

Nothing here may wait on an event listener or a timer: with page scripts disabled
(``Emulation.setScriptExecutionDisabled``) CDP evaluation still runs, and so do promises the
browser itself resolves (``document.fonts.ready``), but listener and ``setTimeout`` callbacks never
do. So the renderer waits for the document's load event on the Python side, and ``MEASURE_JS``
only checks ``document.readyState`` (``{loadTimeout: true}`` while the document is still
loading), optionally applies the paginated layout, then walks every visible text node and
reports its line fragments: one ``[top, bottom, text, block, kind, group, pre]`` per visual line
(each ``<br>`` a line holding one newline), with the document's height and its content's bottom.
A text node's ``Range.getClientRects()`` gives one rectangle per line; where the node spans several
lines, the character offset at which each line starts is found by binary search over the tops of
single-character ranges (character tops never decrease along a node in horizontal writing), so
the cost is O(lines · log n) rather than one range per character.

``SHOW_PAGE_JS`` clips the root element to one page band and scrolls it under the top margin.
"""

# Applied to every rendered document: freeze animations, transitions and the caret so the same
# input gives the same pixels.
STILL_CSS = """
*, *::before, *::after { animation-duration: 0s !important; animation-delay: 0s !important;
  transition: none !important; caret-color: transparent !important; }
html { scroll-behavior: auto !important; }
"""

# Paginated layout. Author rules win for fonts (zero-specificity :where), but the page box is ours:
# the body becomes a block formatting context of the page width with the side margins as padding.
# ``height: fit-content`` (not ``auto``) also stops the quirks-mode body from filling the viewport,
# so the body's bottom is where the content ends.
PAGINATED_CSS = """
:where(html) { font-size: %(font_px)spx; line-height: %(line_height)s; %(font_family)s }
html, body { width: auto !important; min-width: 0 !important; max-width: none !important;
  height: fit-content !important; min-height: 0 !important; overflow: visible !important;
  position: static !important; columns: auto !important; }
body { display: flow-root !important; box-sizing: border-box !important; margin: 0 !important;
  padding: %(margin_top)spx %(margin_x)spx 0 %(margin_x)spx !important; }
:where(img, svg, video, canvas, table, pre) { max-width: 100%%; }
:where(pre) { white-space: pre-wrap; overflow-wrap: anywhere; }
"""

MEASURE_JS = r"""
async ({css, maxHeight}) => {
  // The caller waited for the load event; no listener or timer here (they never run when page
  // scripts are disabled).
  if (document.readyState !== 'complete') { return {loadTimeout: true}; }
  const root = document.documentElement;
  if (css) {
    const style = document.createElement('style');
    style.textContent = css;
    (document.head || root).appendChild(style);
  }
  if (document.fonts) { await document.fonts.ready; }
  const body = document.body || root;
  let bottom = body.getBoundingClientRect().bottom + window.scrollY;
  const height = Math.max(root.scrollHeight, bottom);
  if (maxHeight && height > maxHeight) { return {height, bottom, lines: []}; }

  // NOSCRIPT is not skipped: with page scripts disabled its content is parsed and rendered, and
  // with scripts enabled it is one unrendered text node, which has no client rects.
  const SKIP = new Set(['SCRIPT', 'STYLE', 'TEMPLATE', 'TEXTAREA', 'TITLE', 'HEAD', 'OPTION',
                        'SELECT', 'IFRAME', 'OBJECT']);
  const ids = new Map();
  const idOf = (el) => { if (!ids.has(el)) ids.set(el, ids.size); return ids.get(el); };
  const blockCache = new Map();
  const blockOf = (el) => {
    const seen = [];
    let e = el, info = null;
    while (e) {
      if (blockCache.has(e)) { info = blockCache.get(e); break; }
      seen.push(e);
      const d = getComputedStyle(e).display;
      if (e === root || !(d.startsWith('inline') || d === 'contents' || d.startsWith('ruby'))) {
        let kind = 'block', group = -1;
        const up = e.parentElement ? idOf(e.parentElement) : -1;
        if (d === 'table-cell') { kind = 'cell'; group = up; }
        else if (d === 'list-item') { kind = 'item'; group = up; }
        info = [idOf(e), kind, group];
        break;
      }
      e = e.parentElement;
    }
    for (const s of seen) blockCache.set(s, info);
    return info;
  };
  const styleCache = new Map();
  const styleOf = (el) => {
    if (!styleCache.has(el)) {
      const cs = getComputedStyle(el);
      const ws = cs.whiteSpace || '';
      const mode = /^(pre|pre-wrap|break-spaces)$/.test(ws) ? 'pre'
                 : (ws === 'pre-line' ? 'line' : 'normal');
      styleCache.set(el, [cs.visibility === 'visible', mode]);
    }
    return styleCache.get(el);
  };
  const norm = (s, mode) => mode === 'pre' ? s : (mode === 'line' ? s.replace(/[ \t\f\r]+/g, ' ')
                                                         : s.replace(/[ \t\n\f\r]+/g, ' '));

  const range = document.createRange();
  const sy = window.scrollY;
  const charTop = (node, i, n) => {
    // Top of the first rendered character at or after offset i (collapsed spaces have no box).
    for (let j = i; j < n; j++) {
      range.setStart(node, j); range.setEnd(node, j + 1);
      const rs = range.getClientRects();
      for (const r of rs) { if (r.height > 0) return r.top; }
    }
    return Infinity;
  };
  const lines = [];
  // A hand-written pre-order walk: TreeWalker filter callbacks do not run when page scripts are
  // disabled, and this code must work then too.
  const next = (node, descend) => {
    if (descend && node.firstChild) return node.firstChild;
    while (node && node !== body && !node.nextSibling) node = node.parentNode;
    return node && node !== body ? node.nextSibling : null;
  };
  for (let node = body.firstChild, descend = true; node; node = next(node, descend)) {
    descend = true;
    if (node.nodeType === 1) {
      const tag = node.tagName.toUpperCase();
      if (SKIP.has(tag)) { descend = false; continue; }
      if (tag !== 'BR') continue;
      const r = node.getBoundingClientRect();
      const info = blockOf(node.parentElement || root);
      if (r.height > 0 && info) lines.push([r.top + sy, r.bottom + sy, '\n', ...info, true]);
      continue;
    }
    if (node.nodeType !== 3) continue;
    const parent = node.parentElement;
    if (!parent || !node.data) continue;
    const [visible, mode] = styleOf(parent);
    if (!visible) continue;
    range.selectNodeContents(node);
    const rects = Array.from(range.getClientRects()).filter((r) => r.height > 0 && r.width > 0);
    if (!rects.length) continue;
    const groups = [];
    for (const r of rects) {
      const g = groups[groups.length - 1];
      if (g && r.top < g.top + (g.bottom - g.top) / 2) { g.bottom = Math.max(g.bottom, r.bottom); }
      else { groups.push({top: r.top, bottom: r.bottom}); }
    }
    const info = blockOf(parent);
    const data = node.data, n = data.length;
    const starts = [0];
    for (let k = 1; k < groups.length; k++) {
      const threshold = groups[k].top - (groups[k].bottom - groups[k].top) / 2;
      let lo = starts[k - 1] + 1, hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (charTop(node, mid, n) >= threshold) hi = mid; else lo = mid + 1;
      }
      starts.push(lo);
    }
    starts.push(n);
    for (let k = 0; k < groups.length; k++) {
      const text = norm(data.slice(starts[k], starts[k + 1]), mode);
      const g = groups[k];
      if (text) lines.push([g.top + sy, g.bottom + sy, text, ...info, mode === 'pre']);
    }
  }
  for (const ln of lines) bottom = Math.max(bottom, ln[1]);
  return {height, bottom, lines};
}
"""

SHOW_PAGE_JS = """
([top, bottom, scroll, pageHeight]) => {
  const root = document.documentElement;
  root.style.setProperty('min-height', (scroll + 2 * pageHeight) + 'px', 'important');
  const h = root.getBoundingClientRect().height;
  root.style.setProperty('clip-path', `inset(${top}px -100000px ${h - bottom}px -100000px)`,
                         'important');
  window.scrollTo({top: scroll, left: 0, behavior: 'instant'});
  return window.scrollY;
}
"""
