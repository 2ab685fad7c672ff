"""Lexical matching: tokenizer, Okapi BM25 over words, and character n-grams for typos."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
from scipy import sparse

BM25_K1 = 1.2
BM25_B = 0.75
CHAR_NGRAMS = (3, 4)

STOPWORDS = frozenset(
    """a an and are as at be been but by can could do does did for from has have how i if in
    into is it its me my of on or our so such than that the their them then there these they
    this to was we were what when where which while who why will with would you your yours
    about should explain describe tell difference between mean means doing use used using
    like just really some something thing things know get got one also very ok okay so
    interview interviewer interviewers asked ask asking question questions recruiter loop
    answer good say said someone told kind sort basically actually""".split()
)

_TOKEN = re.compile(r"[a-z0-9]+")
_SUFFIXES = ("izations", "ization", "izing", "ized", "izes", "ize", "ations", "ation",
             "ings", "ing", "ies", "ers", "er", "es", "ed", "s")


def stem(word: str) -> str:
    """A deliberately small suffix stripper: enough to match 'normalizing'/'normalization'."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def words(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def tokenize(text: str) -> list[str]:
    return [stem(t) for t in words(text) if t not in STOPWORDS]


def char_ngrams(text: str) -> list[str]:
    """Character n-grams inside each content word (with boundary marks): robust to typos."""
    grams = []
    for word in words(text):
        if word in STOPWORDS:
            continue
        padded = f"<{word}>"
        for n in CHAR_NGRAMS:
            grams.extend(padded[i : i + n] for i in range(max(len(padded) - n + 1, 1)))
    return grams


class _SparseIndex:
    """Documents x terms matrix with a vocabulary; a query is a column sum."""

    def __init__(self, documents: list[list[str]]):
        self.vocabulary: dict[str, int] = {}
        rows, cols, counts = [], [], []
        for row, terms in enumerate(documents):
            for term, count in Counter(terms).items():
                rows.append(row)
                cols.append(self.vocabulary.setdefault(term, len(self.vocabulary)))
                counts.append(count)
        self.shape = (len(documents), len(self.vocabulary))
        self.counts = sparse.coo_matrix((np.asarray(counts, dtype=np.float32), (rows, cols)), shape=self.shape)
        self.df = np.bincount(np.asarray(cols, dtype=np.int64), minlength=len(self.vocabulary)).astype(np.float32)
        self.lengths = np.asarray([len(d) for d in documents], dtype=np.float32)

    def columns(self, terms: list[str]) -> list[int]:
        return [self.vocabulary[t] for t in dict.fromkeys(terms) if t in self.vocabulary]


class BM25:
    """Okapi BM25 over stemmed content words."""

    def __init__(self, documents: list[str]):
        index = _SparseIndex([tokenize(d) for d in documents])
        self.vocabulary = index.vocabulary
        n_docs = max(index.shape[0], 1)
        average = float(index.lengths.mean()) if index.shape[0] else 1.0
        self.idf = np.log1p((n_docs - index.df + 0.5) / (index.df + 0.5)).astype(np.float32)
        tf = index.counts
        norm = BM25_K1 * (1 - BM25_B + BM25_B * index.lengths[tf.row] / max(average, 1e-9))
        weights = tf.data * (BM25_K1 + 1) / (tf.data + norm) * self.idf[tf.col]
        self.matrix = sparse.csc_matrix((weights, (tf.row, tf.col)), shape=index.shape)
        self._index = index

    def scores(self, query: str) -> np.ndarray:
        terms = self._index.columns(tokenize(query))
        if not terms:
            return np.zeros(self.matrix.shape[0], dtype=np.float32)
        return np.asarray(self.matrix[:, terms].sum(axis=1)).ravel()


class CharNgramTfidf:
    """Cosine similarity of tf-idf weighted character n-gram vectors."""

    def __init__(self, documents: list[str]):
        index = _SparseIndex([char_ngrams(d) for d in documents])
        self.idf = np.log((1 + index.shape[0]) / (1 + index.df)).astype(np.float32) + 1.0
        tf = index.counts
        weights = (1 + np.log(tf.data)) * self.idf[tf.col]
        matrix = sparse.csr_matrix((weights, (tf.row, tf.col)), shape=index.shape)
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        self.matrix = sparse.diags(1 / np.where(norms == 0, 1, norms)) @ matrix
        self.matrix = sparse.csc_matrix(self.matrix)
        self._index = index

    def scores(self, query: str) -> np.ndarray:
        vocabulary = self._index.vocabulary
        pairs = [(vocabulary[g], n) for g, n in Counter(char_ngrams(query)).items() if g in vocabulary]
        if not pairs:
            return np.zeros(self.matrix.shape[0], dtype=np.float32)
        columns = [c for c, _ in pairs]
        q = np.asarray([(1 + np.log(n)) * self.idf[c] for c, n in pairs], dtype=np.float32)
        q /= np.linalg.norm(q) or 1.0
        return np.asarray(self.matrix[:, columns] @ q).ravel()
