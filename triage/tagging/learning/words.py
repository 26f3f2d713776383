"""The words of the labelled texts: a vocabulary of words and word pairs, and two word models trained on it.

scikit-learn fits the word models; what they learned is kept as NumPy arrays, so tagging is a few matrix products
and never loads scikit-learn.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

SVM_C = 0.3
NB_ALPHA = 0.5
NB_CLIP = 10.0
# Words (with inner apostrophes), and "?" / "!" and emoji as tokens of their own.
TOKEN_PATTERN = r"[^\W\d_][\w']*|[?!]|[^\w\s.,;:'\"()\[\]{}<>/\\|&*+=~`^%$#@-]"
_TOKEN_RE = re.compile(TOKEN_PATTERN)
# Words too common to explain anything to a reader, though a model may weigh them.
PLAIN_WORDS = frozenset("""a an the and or but so to of in on at for from with by as is are was were be been am it its
this that these those i i'm im me my mine we us our you your u ur he she they them their his her do does did have has
had just get got""".split())


def grams(words: str) -> list[str]:
    """The tokens of a text (as `words_of` gives it), then its word pairs."""
    # Word pairs as well as words: "not helpful", "no one", "thank you" carry what single words miss.
    tokens = _TOKEN_RE.findall(words)
    return tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]


class Vocabulary:
    """The words and word pairs of the training texts (those in two texts or more, given 200 texts), a column
    each. Tagging needs only this and NumPy: loading scikit-learn would cost a second at every start."""

    def __init__(self, texts: Sequence[str]) -> None:
        seen = Counter(g for text in texts for g in set(grams(text)))
        min_df = 2 if len(texts) >= 200 else 1
        self.index = {g: i for i, g in enumerate(sorted(g for g, n in seen.items() if n >= min_df))}

    def term(self, column: int) -> str:
        """The word or word pair of a column."""
        if "_terms" not in self.__dict__:
            self._terms = list(self.index)  # built in column order
        return self._terms[column]

    def explains(self) -> NDArray[np.bool_]:
        """A mask over the columns: the words and pairs worth showing a person as a reason (no plain words such
        as "my" or "the", no marks such as "?")."""
        import numpy as np

        if "_explains" not in self.__dict__:
            self._explains = np.zeros(len(self.index), dtype=bool)
            for term, column in self.index.items():
                self._explains[column] = all(w not in PLAIN_WORDS and w[:1].isalpha() for w in term.split())
        return self._explains

    def counts(self, texts: Sequence[str]) -> tuple[Any, NDArray[np.float64]]:
        """Texts x vocabulary, how often each text holds each column's word or pair; and per text, how many words
        and pairs it holds in all, known or not."""
        import numpy as np
        from scipy.sparse import csr_matrix

        index = self.index
        rows: list[int] = []
        columns: list[int] = []
        totals = np.empty(len(texts))
        for row, text in enumerate(texts):
            found = grams(text)
            totals[row] = len(found)
            known = [index[g] for g in found if g in index]
            columns += known
            rows += [row] * len(known)
        counts = csr_matrix((np.ones(len(columns)), (rows, columns)), shape=(len(texts), len(index)))
        counts.sum_duplicates()
        return counts, totals


@dataclass
class Texts:
    """Texts as the word models read them: counts of words and word pairs, and how many the texts hold in all."""

    counts: Any  # sparse, texts x vocabulary
    totals: Any  # words and word pairs per text, known to the vocabulary or not

    @classmethod
    def of(cls, vocabulary: Vocabulary, words: Sequence[str]) -> Texts:
        """Texts (as `words_of` gives them) counted against a vocabulary."""
        return cls(*vocabulary.counts(words))

    def __getitem__(self, rows: Any) -> Texts:
        return Texts(self.counts[rows], self.totals[rows])

    def coverage(self) -> NDArray[np.float64]:
        """Per text, the share of its words and word pairs that the labelled texts hold (a column)."""
        import numpy as np

        known = np.asarray(self.counts.sum(axis=1)).ravel()
        share: NDArray[np.float64] = np.minimum(1.0, known / np.maximum(self.totals, 1.0)).reshape(-1, 1)
        return share


class WordModels:
    """Two views of the words: a linear SVM on TF-IDF, and naive Bayes on presence, which is surer on few labels.

    Their verdicts are scaled by how much of a text they know: on a post made of words they never saw, they
    fall silent and the rules decide. scikit-learn fits them; what they learned is kept as arrays, so tagging
    is a few matrix products.
    """

    def __init__(self, texts: Texts, y: NDArray[np.intp]) -> None:
        import numpy as np
        from sklearn.feature_extraction.text import TfidfTransformer
        from sklearn.naive_bayes import MultinomialNB
        from sklearn.svm import LinearSVC

        counts = texts.counts
        self.idf: NDArray[np.float64] = TfidfTransformer(sublinear_tf=True).fit(counts).idf_
        # A fixed seed for liblinear's shuffling: the same labels train the same model.
        svm = LinearSVC(C=SVM_C, class_weight="balanced", random_state=0).fit(self.tfidf(counts), y)
        self.svm_weights, self.svm_bias = svm.coef_.T, svm.intercept_
        nb = MultinomialNB(alpha=NB_ALPHA).fit(presence(counts), y)
        self.nb_weights, self.nb_bias = nb.feature_log_prob_.T, nb.class_log_prior_
        self.known = (nb.feature_count_.sum(axis=0) > 0).astype(np.float64)

    def tfidf(self, counts: Any) -> Any:
        """TF-IDF as scikit-learn's TfidfTransformer(sublinear_tf=True) computes it: 1 + log(count), times the
        word's idf, each row scaled to unit length."""
        import numpy as np

        x = counts.astype(np.float64)
        x.data = (1.0 + np.log(x.data)) * self.idf[x.indices]  # idf is at least 1: no row of words sums to 0
        row = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
        x.data /= np.sqrt(np.bincount(row, weights=x.data ** 2, minlength=x.shape[0]))[row]
        return x

    def columns(self, texts: Texts) -> NDArray[np.float64]:
        """Per text, both models' verdicts scaled by how much of it they know, then that share (a column)."""
        import numpy as np

        counts = texts.counts
        coverage = np.minimum(1.0, (counts @ self.known) / np.maximum(texts.totals, 1.0)).reshape(-1, 1)
        log_p = presence(counts) @ self.nb_weights + self.nb_bias  # naive Bayes, up to each row's constant
        # Relative, clipped log-probabilities: naive Bayes is overconfident, its ranking is what helps.
        nb = np.maximum(log_p - log_p.max(axis=1, keepdims=True), -NB_CLIP) / NB_CLIP
        verdicts = np.hstack([self.tfidf(counts) @ self.svm_weights + self.svm_bias, nb])
        return np.hstack([verdicts * coverage, coverage])


def strongest(models: WordModels, texts: Texts, chosen: NDArray[np.intp], shown: NDArray[np.bool_], *, per_text: int,
              floor: float) -> list[list[int]]:
    """Per text, up to `per_text` of its columns (words, pairs) that pushed the SVM hardest towards the class chosen
    for it, strongest first; only columns in `shown` (a mask over the vocabulary), pushing at least `floor`."""
    import numpy as np

    x = models.tfidf(texts.counts)
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    push = x.data * models.svm_weights[x.indices, np.asarray(chosen)[rows]]
    keep = (push >= floor) & shown[x.indices]
    rows, columns, push = rows[keep], x.indices[keep], push[keep]
    order = np.lexsort((-push, rows))
    rows, columns = rows[order], columns[order]
    starts = np.r_[True, rows[1:] != rows[:-1]] if len(rows) else np.zeros(0, dtype=bool)
    rank = np.arange(len(rows)) - np.maximum.accumulate(np.where(starts, np.arange(len(rows)), 0))
    out: list[list[int]] = [[] for _ in range(x.shape[0])]
    for r, c in zip(rows[rank < per_text].tolist(), columns[rank < per_text].tolist(), strict=True):
        out[r].append(c)
    return out


def presence(counts: Any) -> Any:
    """1 where a text holds the column's word or pair."""
    import numpy as np

    present = counts.astype(np.float64)
    present.data[:] = 1.0
    return present
