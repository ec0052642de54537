"""JavaScript run inside the rendered page (through CDP, so it works with page scripts disabled).

Nothing here may wait on an event listener or a timer: with page scripts disabled
(``Emulation.setScriptExecutionDisabled``) CDP evaluation still runs, and so do promises the
browser itself resolves (``document.fonts.ready``), but listener and ``setTimeout`` callbacks never
do. So the renderer waits for the document's load event on the Python side, and ``STYLE_JS``
only checks ``document.readyState`` (``false`` while the document is still loading) and applies
the renderer's style sheet (the paginated layout); ``MEASURE_JS`` then walks every visible text
node and reports its line fragments: one ``[top, bottom, text, block, kind, group, pre]`` per
visual line (each ``<br>`` a line holding one newline), with the document's height, its content's
bottom and its canvas colour.
A text node's ``Range.getClientRects()`` gives one rectangle per line; where the node spans several
lines, the character offset at which each line starts is found by binary search over the tops of
single-character ranges (character tops never decrease along a node in horizontal writing), so
the cost is O(lines · log n) rather than one range per character.

**Atoms.** An element carrying the attribute ``atom`` (a name the renderer makes up per document,
so a document cannot forge it) is one fragment whose text is the attribute's value, spanning the
element's whole box: a typeset formula reads as its LaTeX source. A page script the renderer runs
before measuring (``PageScript``) marks them.

``SHOW_PAGE_JS`` clips the root element to the rectangles of one page (a band per column) and
scrolls the first band under the top margin; the running header and footer, and a second column
(a captured image of its band), are laid over the page in the top layer, which the root's clip
does not reach.
"""

from __future__ import annotations

from vlpipe.renderers.layout import PageGeometry

# Applied to every rendered document: freeze animations, transitions and the caret so the same
# input gives the same pixels.
STILL_CSS = """
*, *::before, *::after { animation-duration: 0s !important; animation-delay: 0s !important;
  transition: none !important; caret-color: transparent !important; }
html { scroll-behavior: auto !important; }
"""

# Paginated layout. Author rules win for fonts (zero-specificity :where), but the page box is ours:
# the body becomes a block formatting context of the column width, the side margins (and the
# other columns) as padding. ``height: fit-content`` (not ``auto``) also stops the quirks-mode body
# from filling the viewport, so the body's bottom is where the content ends.
_PAGINATED_CSS = """
:where(html) { font-size: %(font_px)spx; line-height: %(line_height)s; %(typography)s }
html, body { width: auto !important; min-width: 0 !important; max-width: none !important;
  height: fit-content !important; min-height: 0 !important; overflow: visible !important;
  position: static !important; columns: auto !important; }
body { display: flow-root !important; box-sizing: border-box !important; margin: 0 !important;
  padding: %(margin_top)spx %(padding_right)spx 0 %(margin_x)spx !important; }
:where(img, svg, video, canvas, table, pre) { max-width: 100%%; }
:where(pre) { white-space: pre-wrap; overflow-wrap: anywhere; }
"""
# precedence: page. Text takes the page's family, colour and line height, paragraphs its
# alignment; images, tables' layout, preformatted text, code, math and SVG keep the document's.
_PAGE_WINS_CSS = """
:is(html, body, body *):not(pre, pre *, code, kbd, samp, tt, math, math *, svg, svg *,
  .katex, .katex *) { %(text)s }
:is(p, li, dd, blockquote) { %(align)s }
html { %(page)s }
body { background: transparent !important; }
"""


def paginated_css(geometry: PageGeometry) -> str:
    """The style sheet of paginated mode for a page geometry (template)."""
    g = geometry
    typography = {
        "font-family": g.font_family,
        "color": g.color,
        "background": g.background,
        "text-align": g.text_align,
    }
    declared = {name: value for name, value in typography.items() if value is not None}
    css = _PAGINATED_CSS % {
        "font_px": g.font_size_px,
        "line_height": g.line_height,
        "typography": "".join(f"{name}: {value}; " for name, value in declared.items()),
        "margin_top": g.margin_top,
        "margin_x": g.margin_x,
        "padding_right": g.width - g.margin_x - g.column_width,
    }
    if g.precedence == "document":
        return css

    def important(*names: str) -> str:
        return "".join(f"{n}: {declared[n]} !important; " for n in names if n in declared)

    return css + _PAGE_WINS_CSS % {
        "text": important("font-family", "color") + f"line-height: {g.line_height} !important;",
        "align": important("text-align"),
        "page": f"font-size: {g.font_size_px}px !important; " + important("background"),
    }


STYLE_JS = """
(css) => {
  // The caller waited for the load event; no listener or timer here (they never run when page
  // scripts are disabled).
  if (document.readyState !== 'complete') { return false; }
  const style = document.createElement('style');
  style.textContent = css;
  (document.head || document.documentElement).appendChild(style);
  return true;
}
"""

MEASURE_JS = r"""
async ({maxHeight, atom}) => {
  const root = document.documentElement;
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
  const extent = (element) => {
    // Vertical extent of an element's boxes and its descendants', less subtrees clipped to
    // nothing (the visually hidden pattern: a box of at most 1px that clips its overflow).
    let top = Infinity, bottom = -Infinity;
    const stack = [element];
    while (stack.length) {
      const e = stack.pop();
      const r = e.getBoundingClientRect();
      const cs = getComputedStyle(e);
      if (cs.display === 'none') continue;
      const clips = cs.overflow !== 'visible' || (cs.clip && cs.clip !== 'auto');
      if (clips && (r.width <= 1 || r.height <= 1)) continue;
      if (r.width > 0 && r.height > 0) {
        top = Math.min(top, r.top);
        bottom = Math.max(bottom, r.bottom);
      }
      for (const child of e.children) stack.push(child);
    }
    return [top, bottom];
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
      if (atom && node.hasAttribute(atom)) {
        // One fragment spanning every box inside the element (a formula's parts stick out of
        // its line box), read as the attribute's value.
        descend = false;
        const [top, bottom] = extent(node);
        const info = blockOf(node);
        if (bottom > top && info && styleOf(node)[0]) {
          lines.push([top + sy, bottom + sy, node.getAttribute(atom), ...info, true]);
        }
        continue;
      }
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
  // The canvas colour: the root's background, or the body's when the root has none (CSS
  // propagates it so); paginated mode paints the page margins with it.
  const paint = (el) => (el ? getComputedStyle(el).backgroundColor : '');
  const clear = (c) => !c || c === 'transparent' || /^rgba\(.*,\s*0\)$/.test(c);
  const canvas = clear(paint(root)) ? paint(document.body) : paint(root);
  return {height, bottom, lines, canvas: clear(canvas) ? null : canvas};
}
"""

SHOW_PAGE_JS = """
async ({rects, scroll, minHeight, overlays}) => {
  // rects: [x0, y0, x1, y1] in document px, the parts of the document this page shows.
  // overlays: in viewport px, {left, top, width, text, font} (a header or footer line) or
  // {left, top, png} (a captured column); they live in the top layer, out of the root's clip.
  const XHTML = 'http://www.w3.org/1999/xhtml';
  const root = document.documentElement;
  root.style.setProperty('min-height', minHeight + 'px', 'important');
  const box = root.getBoundingClientRect();
  const ox = box.left + window.scrollX, oy = box.top + window.scrollY;
  const path = rects.map(([x0, y0, x1, y1]) =>
    `M ${x0 - ox} ${y0 - oy} H ${x1 - ox} V ${y1 - oy} H ${x0 - ox} Z`).join(' ');
  root.style.setProperty('clip-path', `path('${path}')`, 'important');
  window.scrollTo({top: scroll, left: 0, behavior: 'instant'});
  for (const old of Array.from(document.querySelectorAll('vlpipe-overlay'))) old.remove();
  const boxes = [];
  for (const o of overlays) {
    const layer = document.createElementNS(XHTML, 'vlpipe-overlay');
    layer.setAttribute('popover', 'manual');
    let css = 'all: initial; display: block; position: fixed; margin: 0; padding: 0; border: 0;' +
      `left: ${o.left}px; top: ${o.top}px; background: transparent;`;
    if (o.png !== undefined) {
      const bytes = Uint8Array.from(atob(o.png), (c) => c.charCodeAt(0));
      const bitmap = await createImageBitmap(new Blob([bytes], {type: 'image/png'}),
        {colorSpaceConversion: 'none', premultiplyAlpha: 'none'});
      const canvas = document.createElementNS(XHTML, 'canvas');
      canvas.width = bitmap.width; canvas.height = bitmap.height;
      canvas.style.cssText = ('all: initial; display: block;' +
        `width: ${bitmap.width}px; height: ${bitmap.height}px;`).replace(/;/g, ' !important;');
      canvas.getContext('2d').drawImage(bitmap, 0, 0);
      layer.appendChild(canvas);
    } else {
      css += `width: ${o.width}px; text-align: center; white-space: pre; font: ${o.font};` +
        `color: ${o.color};`;
      layer.textContent = o.text;
    }
    layer.style.cssText = css.replace(/;/g, ' !important;');
    root.appendChild(layer);
    layer.showPopover();
    if (o.png === undefined) {
      const range = document.createRange();
      range.selectNodeContents(layer);
      const r = range.getBoundingClientRect();
      boxes.push([r.left, r.top, r.right, r.bottom]);
    }
  }
  return {scrollY: window.scrollY, boxes};
}
"""
