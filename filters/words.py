"""Words, lines and paragraphs as the text-quality filters count them, for languages written with
spaces and for Chinese and Japanese, which are not: there each Han or kana character is a word
(a sentence of N characters has N "words", as Gopher's rules on characters expect)."""

from __future__ import annotations

import re

CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
_WORD = re.compile(f"[{CJK_CHARS}]|[^\\s{CJK_CHARS}]+")
_CJK = re.compile(f"[{CJK_CHARS}]")
_PARAGRAPHS = re.compile(r"\n\s*\n")
UNSPACED_LANGS = frozenset({"zh", "ja", "wuu", "yue", "lzh"})
# Gopher's stop words for English; for Chinese the commonest function characters.
STOP_WORDS = {
    "en": frozenset({"the", "be", "to", "of", "and", "that", "have", "with"}),
    "zh": frozenset("的了是在和有不这也就都"),
}


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def is_cjk_char(token: str) -> bool:
    return len(token) == 1 and bool(_CJK.match(token))


def unspaced(lang: str | None, text: str) -> bool:
    """Whether the text is written without word spaces: its language says so, or (language
    unknown) a third of its characters are Han or kana."""
    if lang and lang != "und":
        return lang.split("-")[0] in UNSPACED_LANGS
    visible = sum(1 for ch in text if not ch.isspace())
    return visible > 0 and len(_CJK.findall(text)) * 3 >= visible


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in _PARAGRAPHS.split(text) if p.strip()]
