"""Test Leakage Indicator (TLI), exactly as XCoder's `compute_TLI.py` defines it.

Texts are split on whitespace; each text's grams are the union of its n-grams for every size in
`sizes` (default 4 and 5), padded nltk-style with n-1 `<start>` and n-1 `<end>` tokens. The
similarity of a train text to a test text is |common grams| / |test grams|. Per test item, the
leakage is the mean of its top-k train similarities; TLI is the mean of that over the test set
(and TLI-max its maximum). A train item's own leakage is its max similarity to any test item.

Instead of one Python set intersection per (test, train) pair, grams are encoded exactly as
integers relative to the test set's vocabulary (a train gram that is not a test gram never gets
a code), looked up with `searchsorted`, and counted against an inverted index gram -> test
items. The textbook definition, the reference the tests compare against, is in `tests/oracles.py`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, repeat

import numpy as np
from numpy.typing import NDArray

START = "<start>"
_SEPARATOR = "\x00codeinstruct-tli-separator\x00"
END = "<end>"
DEFAULT_SIZES = (4, 5)


@dataclass(frozen=True)
class Leakage:
    """TLI of a train set against a test set."""

    tli: float
    """Mean over test items of the mean of their top-k train similarities."""
    tli_max: float
    """Max over test items of the same."""
    per_test: NDArray[np.float64]
    """Each test item's top-k mean similarity."""
    best_train: NDArray[np.int64]
    """Each test item's most similar train index (-1 with no train items)."""
    train_max: NDArray[np.float64]
    """Each train item's max similarity to any test item (what the filter thresholds)."""
    top: int


@dataclass(frozen=True)
class _Encoded:
    tokens: NDArray[np.int64]
    text: NDArray[np.int64]
    first: NDArray[np.int64]
    """Position where the text of each position starts."""
    last: NDArray[np.int64]
    """One past the position where it ends."""


class _TestIndex:
    """The test set's grams, encoded exactly, with an inverted index gram -> test items."""

    def __init__(self, test: Sequence[str], sizes: Sequence[int]) -> None:
        self.sizes = sorted(set(sizes))
        if not self.sizes or self.sizes[0] < 1:
            raise ValueError("n-gram sizes must be positive")
        self.pad = self.sizes[-1] - 1
        self.vocab: dict[str, int] = {START: 1, END: 2}
        for text in test:
            for token in text.split():
                self.vocab.setdefault(token, len(self.vocab) + 1)
        self.base = len(self.vocab) + 1
        encoded = self._encode(test)
        tokens, doc = encoded.tokens, encoded.text
        # prefix[k]: sorted distinct codes of every k-token window of the padded test texts.
        self.prefix: dict[int, NDArray[np.int64]] = {}
        windows = self._windows(tokens, build=True)
        # The test grams proper (nltk padding per size), as (gram id, test item) pairs.
        offsets: list[int] = []
        total = 0
        pairs_gram: list[NDArray[np.int64]] = []
        pairs_doc: list[NDArray[np.int64]] = []
        self.dense: dict[int, NDArray[np.int64]] = {}
        for n in self.sizes:
            valid = self._valid(encoded, n)
            codes = windows[n][: len(valid)][valid]
            universe = np.unique(codes)
            self.dense[n] = universe
            offsets.append(total)
            pairs_gram.append(np.searchsorted(universe, codes) + total)
            pairs_doc.append(doc[: len(valid)][valid])
            total += len(universe)
        self.offsets = dict(zip(self.sizes, offsets, strict=True))
        self.grams = total
        gram_doc = np.unique(
            np.concatenate(pairs_gram) * max(1, len(test)) + np.concatenate(pairs_doc)
        )
        gram_ids = gram_doc // max(1, len(test))
        self.posting_doc = gram_doc % max(1, len(test))
        self.posting_start = np.searchsorted(gram_ids, np.arange(total + 1))
        self.sizes_per_test = np.bincount(self.posting_doc, minlength=len(test)).astype(np.float64)

    def _encode(self, texts: Sequence[str]) -> _Encoded:
        """All texts as one id array, each padded with `pad` start and end ids (unknown
        tokens are 0), with each position's text index and its text's bounds."""
        ids, lengths = self._token_ids(texts)
        padded = lengths + 2 * self.pad
        ends = np.cumsum(padded)
        starts = ends - padded
        tokens = np.full(int(ends[-1]) if len(ends) else 0, 2, dtype=np.int64)
        tokens[(starts[:, None] + np.arange(self.pad)).ravel()] = 1
        word_start = np.repeat(starts + self.pad - (np.cumsum(lengths) - lengths), lengths)
        tokens[word_start + np.arange(len(ids))] = ids
        text = np.repeat(np.arange(len(texts)), padded)
        return _Encoded(tokens, text, np.repeat(starts, padded), np.repeat(ends, padded))

    def _token_ids(self, texts: Sequence[str]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Vocabulary ids of all whitespace tokens (0 when unknown), and tokens per text.

        One `split` of all texts joined by a separator token is much faster than one per
        text; texts that contain the separator itself are split one by one."""
        if not texts:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        joined = f" {_SEPARATOR} ".join(texts)
        if joined.count(_SEPARATOR) != max(0, len(texts) - 1):
            words = [text.split() for text in texts]
            lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
            flat = list(chain.from_iterable(words))
            ids = np.fromiter(map(self.vocab.get, flat, repeat(0)), np.int64, count=len(flat))
            return ids, lengths
        flat = joined.split()
        vocab = {**self.vocab, _SEPARATOR: -1}
        ids = np.fromiter(map(vocab.get, flat, repeat(0)), np.int64, count=len(flat))
        cuts = np.flatnonzero(ids == -1)
        lengths = np.diff(np.concatenate([[-1], cuts, [len(ids)]])) - 1
        return ids[ids != -1], lengths.astype(np.int64)

    def _windows(
        self, tokens: NDArray[np.int64], build: bool = False
    ) -> dict[int, NDArray[np.int64]]:
        """codes[k][i]: an exact integer code of the k-window at i, or -1 when that window (or
        its prefix) is no test window. A k-code is (dense id of the (k-1)-prefix among test
        (k-1)-windows) * base + last token, so codes stay small for any k."""
        windows: dict[int, NDArray[np.int64]] = {1: np.where(tokens > 0, tokens, -1)}
        if build:
            self.prefix[1] = np.unique(windows[1][windows[1] >= 0])
        for k in range(2, self.sizes[-1] + 1):
            length = max(0, len(tokens) - k + 1)
            head = windows[k - 1][:length]
            alive = np.flatnonzero(head >= 0)  # a window extends only a test (k-1)-window
            tail = tokens[alive + k - 1]
            if k == 2:  # token ids are small: a direct table instead of a search
                table = np.full(self.base + 1, -1, dtype=np.int64)
                table[self.prefix[1]] = np.arange(len(self.prefix[1]))
                dense = table[head[alive]]
            else:
                dense = _lookup(self.prefix[k - 1], head[alive])
            codes = np.full(length, -1, dtype=np.int64)
            codes[alive] = np.where((dense >= 0) & (tail > 0), dense * self.base + tail, -1)
            windows[k] = codes
            if build:
                self.prefix[k] = np.unique(codes[codes >= 0])
        return windows

    def _valid(self, encoded: _Encoded, n: int) -> NDArray[np.bool_]:
        """Windows of size n that nltk would produce: inside one text, with n-1 pads each side."""
        length = len(encoded.tokens) - n + 1
        if length <= 0:
            return np.zeros(0, dtype=bool)
        position = np.arange(length)
        skip = self.pad - (n - 1)
        return (position >= encoded.first[:length] + skip) & (
            position + n <= encoded.last[:length] - skip
        )

    def counts(self, train: Sequence[str]) -> NDArray[np.float64]:
        """Common-gram counts, shape (len(train), number of test items)."""
        tests = len(self.sizes_per_test)
        result = np.zeros((len(train), tests))
        if not len(train) or not tests:
            return result
        encoded = self._encode(train)
        windows = self._windows(encoded.tokens)
        pairs: list[NDArray[np.int64]] = []
        for n in self.sizes:
            valid = self._valid(encoded, n)
            where = np.flatnonzero(valid & (windows[n][: len(valid)] >= 0))
            gram = _lookup(self.dense[n], windows[n][where])
            hit = where[gram >= 0]
            gram = gram[gram >= 0]
            pairs.append(encoded.text[hit] * self.grams + gram + self.offsets[n])
        if not pairs:
            return result
        doc_gram = np.unique(np.concatenate(pairs))  # a set per train text
        train_doc = doc_gram // self.grams
        gram_ids = doc_gram % self.grams
        starts = self.posting_start[gram_ids]
        lengths = self.posting_start[gram_ids + 1] - starts
        repeated_doc = np.repeat(train_doc, lengths)
        positions = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(
            lengths.sum()
        )
        test_doc = self.posting_doc[positions]
        flat = np.bincount(repeated_doc * tests + test_doc, minlength=len(train) * tests)
        return flat.reshape(len(train), tests).astype(np.float64)


def _lookup(universe: NDArray[np.int64], codes: NDArray[np.int64]) -> NDArray[np.int64]:
    """Index of each code in the sorted `universe`, or -1 (also for negative codes)."""
    if len(universe) == 0:
        return np.full(len(codes), -1, dtype=np.int64)
    position = np.minimum(np.searchsorted(universe, codes), len(universe) - 1)
    return np.where((universe[position] == codes) & (codes >= 0), position, -1)


class TestIndex:
    """A benchmark (test set) indexed once, measured against any number of train texts."""

    __test__ = False  # not a pytest class

    def __init__(self, test: Sequence[str], sizes: Sequence[int] = DEFAULT_SIZES) -> None:
        self.size = len(test)
        self._index = _TestIndex(list(test), sizes)

    def similarities(self, train: Sequence[str]) -> NDArray[np.float64]:
        """S[i, j] = |common grams| / |grams of test j|, shape (len(train), len(test))."""
        counts = self._index.counts(train)
        sizes = self._index.sizes_per_test
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(sizes > 0, counts / np.where(sizes > 0, sizes, 1), 0.0)

    def similarity_chunks(
        self, train: Sequence[str], chunk: int = 4096
    ) -> Iterator[tuple[int, NDArray[np.float64]]]:
        for start in range(0, len(train), chunk):
            yield start, self.similarities(train[start : start + chunk])

    def leakage(self, train: Sequence[str], top: int = 1, chunk: int = 4096) -> Leakage:
        if top < 1:
            raise ValueError("top must be >= 1")
        best = np.empty((0, self.size))
        best_index = np.empty((0, self.size), dtype=np.int64)
        train_max = np.zeros(len(train))
        for start, sims in self.similarity_chunks(train, chunk):
            if sims.shape[1]:
                train_max[start : start + len(sims)] = sims.max(axis=1)
            rows = np.arange(start, start + len(sims))[:, None].repeat(self.size, axis=1)
            best = np.concatenate([best, sims])
            best_index = np.concatenate([best_index, rows])
            if len(best) > top:
                # Stable order on ties: higher similarity first, then the lower train index.
                order = np.argsort(-best, axis=0, kind="stable")[:top]
                best = np.take_along_axis(best, order, axis=0)
                best_index = np.take_along_axis(best_index, order, axis=0)
        if len(best) == 0 or self.size == 0:
            per_test = np.zeros(self.size)
            first = np.full(self.size, -1, dtype=np.int64)
        else:
            order = np.argsort(-best, axis=0, kind="stable")
            best = np.take_along_axis(best, order, axis=0)
            best_index = np.take_along_axis(best_index, order, axis=0)
            per_test = best.mean(axis=0)
            first = best_index[0]
        return Leakage(
            tli=float(per_test.mean()) if self.size else 0.0,
            tli_max=float(per_test.max()) if self.size else 0.0,
            per_test=per_test,
            best_train=first,
            train_max=train_max,
            top=top,
        )
