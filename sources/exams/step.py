"""One question row → ``image_text`` samples (task ``ocr_page``, target ``txt``): its page image,
cut into pages at its template if it is long, and exactly the text shown, each formula as its
LaTeX source.

KaTeX (a local copy, ``make assets``; never a CDN) is evaluated in the page by the renderer, as
a trusted page script, while the question's own scripts stay blocked by the renderer's CSP; it
typesets every formula and marks it to read as its source, so the pair is (typeset formula,
LaTeX). A formula KaTeX cannot typeset, one using a command that needs trust (``\\href``,
``\\includegraphics``, ``\\url``, ``\\html…``), one wider than its column or taller than a page
fails the question with ``MathError``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from vlpipe.errors import ConfigError, DocumentError
from vlpipe.filters.image import Options as ImageLimits
from vlpipe.renderers import BrowserConfig, BrowserPool, HtmlDocument, RenderedPage
from vlpipe.renderers.chromium import Layout, PageScript, PageScriptError, furniture_record
from vlpipe.renderers.templates import PageTemplate, check_fonts
from vlpipe.schema import Document, Outcome, Sample, sample_key
from vlpipe.sources.exams import ExamOptions, ExamsRecipe
from vlpipe.sources.exams.question import SOURCE, Question, parse_question, question_page
from vlpipe.sources.registry import DocumentStep, StepContext

# Typesets every formula of the page and marks it as an atom reading as its source; returns an
# error message, or null. Runs through CDP after the page is styled at its template.
TYPESET_JS = """
async (atom, maxHeight) => {
  const formulas = Array.from(document.querySelectorAll('span.vq-math'));
  for (const el of formulas) {
    const source = el.getAttribute('data-source');
    const refused = [];
    try {
      katex.render(el.getAttribute('data-tex'), el, {
        displayMode: el.classList.contains('vq-display'), throwOnError: true, strict: 'ignore',
        maxSize: 20, maxExpand: 1000,
        trust: (context) => { refused.push(context.command); return false; },
      });
    } catch (error) {
      return `${source.slice(0, 80)}: ${String(error.message || error).slice(0, 300)}`;
    }
    if (refused.length) { return `${source.slice(0, 80)}: ${refused[0]} is not allowed`; }
    el.setAttribute(atom, source);
  }
  document.body.getBoundingClientRect();  // lay out, so KaTeX's fonts start loading
  if (document.fonts) { await document.fonts.ready; }
  const body = document.body, style = getComputedStyle(body);
  const right = body.getBoundingClientRect().right - parseFloat(style.paddingRight) + 1;
  for (const el of formulas) {
    // The typeset formula is the boxes in .katex-html (its bases, struts included, and a tag).
    let left = Infinity, end = -Infinity, top = Infinity, bottom = -Infinity;
    for (const part of el.querySelectorAll('.katex-html > *')) {
      const r = part.getBoundingClientRect();
      left = Math.min(left, r.left); end = Math.max(end, r.right);
      top = Math.min(top, r.top); bottom = Math.max(bottom, r.bottom);
    }
    const source = el.getAttribute('data-source').slice(0, 80);
    if (end > right) { return `${source}: ${Math.round(end - left)} px wide, over its column`; }
    if (bottom - top > maxHeight) {
      return `${source}: ${Math.round(bottom - top)} px tall, over a page`;
    }
  }
  return null;
}
"""


class MathError(DocumentError):
    """A formula of the question cannot be typeset as written (KaTeX's error, a command that needs
    trust, or a formula larger than its column or page)."""


def katex_folder(setting: str) -> Path:
    """KaTeX's dist folder (relative settings are under ``sys.prefix``); ``ConfigError`` if it
    is not installed."""
    folder = Path(setting) if Path(setting).is_absolute() else Path(sys.prefix) / setting
    needed = [folder / "katex.min.js", folder / "katex.min.css"]
    if not all(path.is_file() for path in needed) or not any((folder / "fonts").glob("*.woff2")):
        raise ConfigError(f"KaTeX is not installed in {folder}: run `make assets`")
    return folder


def browser_config(options: ExamOptions) -> BrowserConfig:
    """The pool of a work unit; its height limit lets ``max_pages`` pages of any template in."""
    tallest = max(
        options.max_pages * t.columns * t.content_height + t.height for t in options.templates
    )
    return BrowserConfig(
        browsers=options.browsers,
        mode="paginated",
        geometry=options.templates[0].geometry(),
        page_scripts=False,  # the renderer's CSP stops the question's scripts; KaTeX runs via CDP
        load_timeout_s=options.load_timeout_s,
        render_timeout_s=options.render_timeout_s,
        max_pages=options.max_pages,
        max_height_px=tallest,
    )


@contextmanager
def open_step(recipe: ExamsRecipe, _: StepContext) -> Iterator[DocumentStep]:
    """One browser pool and one folder serving KaTeX's style sheet and fonts per work unit."""
    options = recipe.exams
    check_fonts(options.templates)
    katex = katex_folder(options.katex)
    library = (katex / "katex.min.js").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="vlpipe-exams-") as work:
        served = Path(work) / "katex"
        served.mkdir()
        shutil.copy2(katex / "katex.min.css", served)
        shutil.copytree(katex / "fonts", served / "fonts")
        with BrowserPool(browser_config(options)) as pool:
            yield partial(question_outcome, pool, Path(work), library)


def question_outcome(
    pool: BrowserPool, work: Path, library: str, document: Document, recipe: ExamsRecipe
) -> Outcome:
    """Build the question's page, typeset and render it at its template, pack the pages."""
    options = recipe.exams
    question = parse_question(document.content, options.format, options.lang)
    limits = ImageLimits(
        max_image_bytes=options.max_image_bytes,
        max_pixels=options.max_image_pixels,
        min_side=1,
        max_aspect_ratio=1000,
        min_ink=None,
    )
    page = question_page(question, options.parts, limits, options.max_formula_chars)
    if page.drop is not None:
        return Outcome(document.doc_id, drop=page.drop)
    template = options.draw(document.doc_id, question.lang)
    geometry = template.furnished({"title": str(document.origin.get("title") or "")})
    script = PageScript(library, f"(atom) => ({TYPESET_JS})(atom, {geometry.content_height})")
    try:
        rendered = pool.render(
            HtmlDocument(page.html, work, "question.html"), None, Layout(geometry, 1, script)
        )
    except PageScriptError as exc:
        raise MathError(str(exc)) from None
    info = {
        "number": question.number,
        "format": question.fmt,
        "options": len(question.options),
        "formulas": [f.source for f in page.formulas],
        "images": page.images,
    }
    samples = tuple(
        _page_sample(document, question, template, info, one, len(rendered)) for one in rendered
    )
    return Outcome(document.doc_id, samples)


def _page_sample(
    document: Document,
    question: Question,
    template: PageTemplate,
    info: dict[str, Any],
    page: RenderedPage,
    pages: int,
) -> Sample:
    """A page of the question and exactly its text; blank pages and language are the filters'."""
    metadata = {
        "kind": "image_text",
        "task": "ocr_page",
        "source": SOURCE,
        "doc_id": document.doc_id,
        "lang": question.lang,
        "license": document.origin.get("license"),
        "target": "txt",
        "page": page.index,
        "pages": pages,
        "width": page.width,
        "height": page.height,
        "template": template.model_dump(mode="json"),
        "furniture": furniture_record(page, page.text),
        "question": info,
        "origin": document.origin,
    }
    files = {
        "png": page.png,
        "txt": page.text.encode("utf-8", "surrogatepass"),
        "json": orjson.dumps(metadata, default=str),
    }
    return Sample(sample_key(document.doc_id, page.index), files)
