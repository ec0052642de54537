"""Tokenizers that never download: byte-level fallback, a BPE trained on the shards, a local file.

Every tokenizer exposes the same special tokens: ``<pad> <bos> <eos> <image>`` and the chat role
markers. ``<image>`` is the id written at every image-token position (the model splices vision
features there); the literal text ``<image>`` in samples is split off before tokenizing, and
special-token text inside documents is encoded as plain text, so data cannot inject control ids.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from vlpipe.errors import ConfigError

PAD, BOS, EOS, IMAGE = "<pad>", "<bos>", "<eos>", "<image>"
ROLES = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
SPECIAL_TOKENS = [PAD, BOS, EOS, IMAGE, *ROLES.values()]


class BaseTokenizer(ABC):
    """Shared interface: ``encode``/``decode`` plus the ids of the special tokens."""

    vocab_size: int
    special: dict[str, int]

    @property
    def pad_id(self) -> int:
        return self.special[PAD]

    @property
    def bos_id(self) -> int:
        return self.special[BOS]

    @property
    def eos_id(self) -> int:
        return self.special[EOS]

    @property
    def image_id(self) -> int:
        return self.special[IMAGE]

    def role_id(self, role: str) -> int:
        return self.special[ROLES[role]]

    @abstractmethod
    def encode(self, text: str) -> list[int]: ...

    @abstractmethod
    def decode(self, ids: Iterable[int]) -> str: ...

    @abstractmethod
    def to_spec(self) -> dict[str, str]:
        """A JSON-able description stored in checkpoints (see ``tokenizer_from_spec``)."""


class ByteTokenizer(BaseTokenizer):
    """UTF-8 bytes as ids 0..255, specials from 256: works for any language with no training."""

    def __init__(self) -> None:
        self.special = {tok: 256 + i for i, tok in enumerate(SPECIAL_TOKENS)}
        self.vocab_size = 256 + len(SPECIAL_TOKENS)

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Iterable[int]) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")

    def to_spec(self) -> dict[str, str]:
        return {"kind": "byte"}


class HFTokenizer(BaseTokenizer):
    """A ``tokenizers`` tokenizer (our BPE or a local tokenizer.json) with our specials added."""

    def __init__(self, tok: Tokenizer) -> None:
        missing = [t for t in SPECIAL_TOKENS if tok.token_to_id(t) is None]
        if missing:
            tok.add_special_tokens(missing)
        tok.encode_special_tokens = True
        self.tok = tok
        self.special = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS}
        self.vocab_size = tok.get_vocab_size(with_added_tokens=True)
        self._special_ids = set(self.special.values())

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Iterable[int]) -> str:
        return self.tok.decode([i for i in ids if i not in self._special_ids])

    def to_spec(self) -> dict[str, str]:
        return {"kind": "json", "json": self.tok.to_str()}

    def save(self, directory: Path) -> None:
        """Write ``tokenizer.json`` (loadable by ``load_tokenizer_dir`` and HF ``tokenizers``)."""
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / ".tokenizer.json.tmp"
        tmp.write_text(self.tok.to_str())
        tmp.replace(directory / "tokenizer.json")


def train_bpe(texts: Iterable[str], vocab_size: int) -> HFTokenizer:
    """Byte-level BPE (GPT-2 style alphabet, so no text is ever out of vocabulary)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return HFTokenizer(tok)


def load_tokenizer_dir(directory: str | Path) -> HFTokenizer:
    """Any local directory holding a ``tokenizer.json`` (ours, or an HF model's)."""
    path = Path(directory) / "tokenizer.json"
    if not path.is_file():
        raise ConfigError(f"no tokenizer.json in {directory}")
    return HFTokenizer(Tokenizer.from_file(str(path)))


def tokenizer_from_spec(spec: dict[str, str]) -> BaseTokenizer:
    if spec["kind"] == "byte":
        return ByteTokenizer()
    return HFTokenizer(Tokenizer.from_str(spec["json"]))
