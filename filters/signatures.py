"""Signatures for corpus-wide dedup, computed in the build for every kept sample and kept in the
ledger, so that ``vlpipe dedup`` compares a whole corpus without reading a shard.

- **MinHash** of the text (Broder 1997): the text's shingles (word n-grams after lower-casing
  and dropping punctuation; in Chinese and Japanese, character n-grams) hashed to 32 bits
  (blake2b), then for each of ``num_perm`` seeded permutations ``(a·x + b) mod (2⁶¹ − 1)`` the
  minimum, kept as 32 bits. Two texts agree on a permutation with probability equal to the
  Jaccard similarity of their shingle sets.
- **pHash** of each image (as ``imagehash.phash``): grey, 32 × 32, 2-D DCT, the 8 × 8 lowest
  frequencies against their median — 64 bits that survive re-encoding and resizing. It starts
  from the image filter's reduced grey copy, so an image is decoded once for both.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache

import numpy as np
from PIL import Image

from vlpipe.filters.contract import DigestMemo, SampleView
from vlpipe.filters.image import reduced_grey
from vlpipe.filters.words import words
from vlpipe.recipe import SignatureOptions
from vlpipe.schema import Signature

MERSENNE = (1 << 61) - 1
_WORDLIKE = re.compile(r"\w")
PHASH_SIDE, PHASH_BITS = 32, 8
PHASHES: DigestMemo[int | None] = DigestMemo(1 << 16)


def sign(sample: SampleView, options: SignatureOptions) -> Signature:
    text = sample.text if options.text else None
    hashed = (phash(data) for _, data in sample.images) if options.images else ()
    phashes = tuple(h for h in hashed if h is not None)
    minhash = None
    if text:
        signature = text_minhash(text, options.ngram, options.num_perm, options.seed)
        minhash = None if signature is None else signature.astype("<u4").tobytes()
    return Signature(minhash, phashes)


def shingles(text: str, n: int) -> set[bytes]:
    tokens = [t.lower() for t in words(text) if _WORDLIKE.search(t)]
    if len(tokens) < n:
        return {" ".join(tokens).encode()} if tokens else set()
    return {" ".join(tokens[i : i + n]).encode() for i in range(len(tokens) - n + 1)}


@cache
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(seed)
    a = generator.integers(1, MERSENNE, size=num_perm, dtype=np.uint64)
    b = generator.integers(0, MERSENNE, size=num_perm, dtype=np.uint64)
    return a, b


def text_minhash(text: str, ngram: int, num_perm: int, seed: int) -> np.ndarray | None:
    """``num_perm`` uint32 minima over the text's shingles, None for a text without words."""
    grams = shingles(text, ngram)
    if not grams:
        return None
    hashed = np.fromiter(
        (int.from_bytes(hashlib.blake2b(g, digest_size=4).digest(), "little") for g in grams),
        dtype=np.uint64,
        count=len(grams),
    )
    a, b = permutations(num_perm, seed)
    with np.errstate(over="ignore"):  # (a·x + b) wraps at 2⁶⁴ before the modulo, as datasketch's
        permuted = (hashed[:, None] * a[None, :] + b[None, :]) % np.uint64(MERSENNE)
    return (permuted & np.uint64(0xFFFFFFFF)).min(axis=0).astype(np.uint32)


@cache
def _dct_matrix(size: int) -> np.ndarray:
    n = np.arange(size)
    return np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / (2 * size))


def phash(data: bytes) -> int | None:
    """The image's perceptual hash, None when Pillow cannot decode it (an SVG, or bytes no image
    filter screened): such an image has no near duplicate."""
    return PHASHES.get(data, None, _phash)


def _phash(data: bytes) -> int | None:
    try:
        grey = reduced_grey(data)
    except (OSError, SyntaxError, ValueError, EOFError):  # UnidentifiedImageError is an OSError
        return None
    grey = grey.resize((PHASH_SIDE, PHASH_SIDE), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float64)
    dct = _dct_matrix(PHASH_SIDE)
    low = (dct @ pixels @ dct.T)[:PHASH_BITS, :PHASH_BITS]
    bits = (low > np.median(low)).flatten()
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))
