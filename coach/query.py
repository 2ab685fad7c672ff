"""Query rewriting before retrieval: interview shorthand expanded, misspellings corrected.

Both are general mechanisms over the corpus's own vocabulary and a small glossary of
standard ML abbreviations; nothing here is keyed to particular queries.
"""

from __future__ import annotations

import difflib
from collections import Counter

from coach.lexical import STOPWORDS, words

# Standard ML shorthand -> the words a guide would use.
GLOSSARY = {
    "bn": "batch normalization", "batchnorm": "batch normalization", "lr": "learning rate",
    "sgd": "stochastic gradient descent", "gd": "gradient descent", "cnn": "convolutional neural network",
    "cnns": "convolutional neural network", "convnet": "convolutional neural network CNN",
    "convnets": "convolutional neural network CNN", "ann": "artificial neural network",
    "mlp": "artificial neural network ANN dense layers", "rnn": "recurrent neural network",
    "vae": "variational autoencoder", "rag": "retrieval augmented generation",
    "rlhf": "reinforcement learning from human feedback", "ppo": "proximal policy optimization",
    "llm": "large language model", "llms": "large language models", "mlm": "masked language modeling",
    "clm": "causal language modeling", "bert": "masked language modeling bidirectional",
    "gpt": "causal language modeling", "nlp": "natural language processing",
    "ptq": "post-training quantization", "qat": "quantization-aware training", "tf": "tensorflow",
    "nan": "exploding gradients", "inf": "exploding gradients", "relu": "rectified linear unit",
    "fp32": "precision quantization", "fp16": "precision quantization mixed precision",
    "int8": "quantization", "int4": "quantization", "hparams": "hyperparameters",
    "hyperparams": "hyperparameters", "finetune": "fine-tuning", "finetuning": "fine-tuning",
    "pretrain": "pre-training", "pretraining": "pre-training", "backprop": "backpropagation gradients",
    "grads": "gradients", "init": "initialization", "xavier": "weight initialization",
    "dataloader": "data pipeline", "seg": "segmentation", "aug": "augmentation",
}

MIN_CORRECTABLE = 5  # shorter words are too ambiguous to correct
SIMILARITY = 0.8


class SpellingCorrector:
    """Maps an unknown word to the closest corpus word (difflib ratio >= SIMILARITY)."""

    def __init__(self, texts: list[str]):
        counts = Counter(w for text in texts for w in words(text))
        self.vocabulary = {w for w in counts if len(w) >= 3}
        self._long = sorted(w for w in self.vocabulary if len(w) >= MIN_CORRECTABLE - 1)

    def correct(self, word: str) -> str | None:
        if len(word) < MIN_CORRECTABLE or word in self.vocabulary or word in STOPWORDS or word.isdigit():
            return None
        match = difflib.get_close_matches(word, self._long, n=1, cutoff=SIMILARITY)
        return match[0] if match else None


def rewrite_query(query: str, corrector: SpellingCorrector | None = None) -> str:
    """The query plus glossary expansions and spelling corrections of its words."""
    extra: list[str] = []
    for word in dict.fromkeys(words(query)):
        expansion = GLOSSARY.get(word)
        if expansion:
            extra.append(expansion)
        elif corrector is not None:
            fixed = corrector.correct(word)
            if fixed:
                extra.append(fixed)
    return query if not extra else f"{query} ({'; '.join(extra)})"
