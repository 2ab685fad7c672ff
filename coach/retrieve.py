"""Hybrid retrieval: dense (FAISS) + BM25, fused by reciprocal rank.

Retrieval returns question units, never two pieces of one question: sub-chunk
and title vectors fold into their unit by max score.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from coach.corpus import Chunk
from coach.embed import Embedder
from coach.store import Index

RRF_K = 60  # the usual constant; damps the weight of rank 1 vs rank 2
DENSE_WEIGHT = 1.0
BM25_WEIGHT = 1.0
BM25_K1 = 1.2
BM25_B = 0.75

_STOPWORDS = frozenset(
    """a an and are as at be been but by can could do does did for from has have how i if in
    into is it its me my of on or our so such than that the their them then there these they
    this to was we were what when where which while who why will with would you your yours
    about should explain describe tell difference between mean means doing use used using
    like just really some something thing things know get got one also very""".split()
)

# Interview shorthand -> the words the guide uses. General ML vocabulary, not tuned to queries.
GLOSSARY = {
    "bn": "batch normalization",
    "batchnorm": "batch normalization",
    "lr": "learning rate",
    "sgd": "stochastic gradient descent",
    "gd": "gradient descent",
    "cnn": "convolutional neural network",
    "cnns": "convolutional neural network",
    "convnet": "convolutional neural network",
    "ann": "artificial neural network",
    "mlp": "artificial neural network dense",
    "rnn": "recurrent neural network",
    "lstm": "recurrent neural network",
    "vae": "variational autoencoder",
    "ae": "autoencoder",
    "rag": "retrieval augmented generation",
    "rlhf": "reinforcement learning from human feedback",
    "ppo": "proximal policy optimization",
    "llm": "large language model",
    "llms": "large language model",
    "mlm": "masked language modeling",
    "clm": "causal language modeling",
    "nlp": "natural language processing",
    "ptq": "post training quantization",
    "qat": "quantization aware training",
    "fl": "federated learning",
    "tf": "tensorflow",
    "keras": "tensorflow keras",
    "nan": "exploding gradients unstable",
    "relu": "rectified linear unit activation",
    "l1": "regularization",
    "l2": "regularization",
    "int8": "quantization",
    "fp16": "quantization precision",
    "gpu": "gpu",
    "hparams": "hyperparameter",
    "hyperparams": "hyperparameter",
    "finetune": "fine tuning",
    "finetuning": "fine tuning",
    "pretrain": "pre training",
    "pretraining": "pre training",
    "backprop": "backpropagation gradients weights",
}

_TOKEN = re.compile(r"[a-z0-9]+")


def stem(word: str) -> str:
    """A deliberately small suffix stripper: enough to match 'normalizing'/'normalization'."""
    for suffix in ("izations", "ization", "izing", "ized", "izes", "ize", "ations", "ation", "ings", "ing", "ies", "ers", "er", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def tokenize(text: str) -> list[str]:
    return [stem(t) for t in _TOKEN.findall(text.lower()) if t not in _STOPWORDS]


def expand_query(query: str) -> str:
    """Append glossary expansions of shorthand the query uses."""
    words = _TOKEN.findall(query.lower())
    extra = [GLOSSARY[w] for w in dict.fromkeys(words) if w in GLOSSARY]
    return query if not extra else f"{query} ({'; '.join(extra)})"


@dataclass(frozen=True)
class Hit:
    chunk: Chunk  # the question unit (or guide text / document piece)
    score: float  # fused score, higher is better
    dense: float  # best cosine similarity of the query to any view of the unit
    bm25: float
    best_chunk: str  # which piece matched best ("q17.2"), equals chunk.id for whole units

    @property
    def id(self) -> str:
        return self.chunk.id


class BM25:
    """Okapi BM25 over a sparse term matrix: one sparse mat-vec per query."""

    def __init__(self, documents: list[str]):
        tokenized = [tokenize(d) for d in documents]
        self.vocabulary: dict[str, int] = {}
        rows, cols, counts = [], [], []
        for row, tokens in enumerate(tokenized):
            for term, count in Counter(tokens).items():
                rows.append(row)
                cols.append(self.vocabulary.setdefault(term, len(self.vocabulary)))
                counts.append(count)
        n_docs = max(len(documents), 1)
        tf = sparse.csr_matrix((counts, (rows, cols)), shape=(len(documents), len(self.vocabulary)), dtype=np.float32)
        lengths = np.asarray([len(t) for t in tokenized], dtype=np.float32)
        average = float(lengths.mean()) if len(lengths) else 1.0
        df = np.bincount(cols, minlength=len(self.vocabulary)).astype(np.float32)
        self.idf = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        # Precompute the BM25 weight of every (doc, term) so a query is a column sum.
        tf = tf.tocoo()
        norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths[tf.row] / max(average, 1e-9))
        weights = tf.data * (BM25_K1 + 1) / (tf.data + norm) * self.idf[tf.col]
        self.matrix = sparse.csc_matrix((weights, (tf.row, tf.col)), shape=tf.shape)

    def scores(self, query: str) -> np.ndarray:
        terms = [self.vocabulary[t] for t in set(tokenize(query)) if t in self.vocabulary]
        if not terms:
            return np.zeros(self.matrix.shape[0], dtype=np.float32)
        return np.asarray(self.matrix[:, terms].sum(axis=1)).ravel()


class HybridRetriever:
    """Dense + BM25 over an Index, fused with reciprocal rank fusion."""

    def __init__(self, index: Index, embedder: Embedder, dense_weight: float = DENSE_WEIGHT, bm25_weight: float = BM25_WEIGHT):
        self.index = index
        self.embedder = embedder
        self.dense_weight = dense_weight
        self.bm25_weight = bm25_weight
        self.units = index.units
        self._unit_pos = {u.id: n for n, u in enumerate(self.units)}
        self._entry_unit = np.array([self._unit_pos[e.unit] for e in index.entries], dtype=np.int64)
        self._entry_chunk = [e.chunk for e in index.entries]
        self.bm25 = BM25([self._bm25_text(u) for u in self.units])

    def _bm25_text(self, unit: Chunk) -> str:
        # The title counts twice: candidates ask by the question more than by the answer.
        return f"{unit.title}\n{unit.title}\n{unit.text}"

    def dense_scores(self, query: str) -> tuple[np.ndarray, list[str]]:
        """Best cosine per unit (-1 where no vector of the unit was in the candidates)."""
        vector = self.embedder.embed([query])
        total = self.index.vectors.ntotal
        depth = min(total, max(64, 16 * 8))
        sims, ids = self.index.vectors.search(vector, depth)
        best = np.full(len(self.units), -1.0, dtype=np.float32)
        best_chunk = [u.id for u in self.units]
        for sim, entry in zip(sims[0], ids[0]):
            if entry < 0:
                continue
            unit = self._entry_unit[entry]
            if sim > best[unit]:
                best[unit] = sim
                best_chunk[unit] = self._entry_chunk[entry]
        return best, best_chunk

    def search(self, query: str, k: int = 5, mode: str = "hybrid") -> list[Hit]:
        """Top-k units for `query`; mode is 'hybrid', 'dense' or 'bm25'."""
        query = query.strip()
        if not query:
            return []
        expanded = expand_query(query)
        dense, best_chunk = self.dense_scores(expanded)
        lexical = self.bm25.scores(expanded)
        if mode == "dense":
            fused = dense.astype(np.float64)
        elif mode == "bm25":
            fused = lexical.astype(np.float64)
        else:
            fused = self.dense_weight * _rrf(dense, valid=dense > -1) + self.bm25_weight * _rrf(lexical, valid=lexical > 0)
        order = np.argsort(-fused, kind="stable")[:k]
        return [
            Hit(self.units[i], float(fused[i]), float(dense[i]), float(lexical[i]), best_chunk[i])
            for i in order
            if mode != "bm25" or lexical[i] > 0 or dense[i] > -1
        ]


def _rrf(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """1 / (RRF_K + rank) for valid items, 0 elsewhere."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    return np.where(valid, 1.0 / (RRF_K + ranks), 0.0)

