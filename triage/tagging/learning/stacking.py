"""Stacking: a combiner that starts from the rules' verdict and learns how far the word models' verdicts and the
rules' evidence should move it, and the model deferring to the rules on posts unlike its labels."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, NotRequired, TypedDict

from triage.tagging.learning.words import Texts, WordModels

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

CV_FOLDS = 5
COMBINER_C = 0.3
# The combiner's intercept is fitted with each class's labels weighing alike. The mix of one brand's labels (an
# airline's 63% negative) is no guide to another brand's posts: a model that learned it as a prior tagged half of a
# tech brand's posts negative where a sixth were. Measured (airline labels only, scored on the twcs posts of
# intent_dev reweighted to 17% negative): learned sentiment 0.69 macro-F1 with the mix, 0.77 without (rules 0.74),
# for about 0.005 on the airline posts themselves. A learned intent reads the sentiment with the mix, as its labels,
# from the same posts, have it (intent macro-F1 0.68 -> 0.72 on the eval tool's split, three seeds).
CLASS_BALANCE = True
# A post whose words and word pairs the labels mostly never showed is unlike what the model learned from: below
# DEFER_BELOW of them known the rules' verdict stands, above TRUST_ABOVE the model's, and in between a blend.
# A held-out airline post has a median of 71% known (10% of them under 55%); a post to another brand 60%.
# Measured with airline labels: other brands' sentiment 0.763 (0.3-0.6), 0.776 (0.35-0.7), 0.787 (0.4-0.7), against
# 0.747, 0.744 and 0.740 on the airline posts themselves.
DEFER_BELOW = 0.35
TRUST_ABOVE = 0.7


def folds(y: NDArray[np.intp]) -> int:
    """Folds for cross-validating on labels `y`: CV_FOLDS, fewer when a class has fewer labels, at least 2."""
    return max(2, min(CV_FOLDS, min(Counter(list(y)).values())))


def inner_columns(texts: Texts, y: NDArray[np.intp], n_folds: int) -> NDArray[np.float64]:
    """Word-model columns for the training texts themselves, each from models that did not see it (stacking)."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    out = None
    for fit_idx, pred_idx in StratifiedKFold(n_folds, shuffle=True, random_state=1).split(np.zeros(len(y)), y):
        columns = WordModels(texts[fit_idx], y[fit_idx]).columns(texts[pred_idx])
        if out is None:
            out = np.zeros((len(y), columns.shape[1]))
        out[pred_idx] = columns
    assert out is not None  # StratifiedKFold yields at least two folds
    return out


class Combiner:
    """Multinomial logistic regression that starts from the rules' verdict (a fixed offset) and learns only how
    far to move from it. Intercept and weights are both shrunk towards zero, so with little evidence, or on a
    post unlike the labels, the rules' verdict stands."""

    def __init__(self, c: float) -> None:
        self.c = c
        self.weights: NDArray[np.float64] | None = None  # set by `fit`
        self.bias: NDArray[np.float64] | None = None

    def _logits(self, x: NDArray[np.float64], prior: NDArray[np.float64], mix: bool = False) -> NDArray[np.float64]:
        if self.weights is None or self.bias is None:
            raise ValueError("the combiner was never fitted")
        return x @ self.weights + (self.mix_bias if mix else self.bias) + prior

    def fit(self, x: NDArray[np.float64], prior: NDArray[np.float64], y: NDArray[np.intp]) -> Combiner:
        """Learn from the evidence `x`, the rules' verdict `prior` (log-probabilities) and the labels `y`."""
        import numpy as np

        n, k = len(y), prior.shape[1]
        onehot = np.zeros((n, k))
        onehot[np.arange(n), y] = 1.0
        self.weights, self.bias = self._solve(x, prior, onehot)
        self.mix_bias = self.bias
        if CLASS_BALANCE:
            # The evidence's weights are learned from the labels as they come; the intercept, where the label mix
            # settles as a prior, is then fitted again with each class's labels weighing alike.
            share = np.bincount(y, minlength=k) / n
            balanced = (share[y] * k) ** -1.0
            _, self.bias = self._solve(x, prior, onehot * (balanced * n / balanced.sum()).reshape(-1, 1),
                                       weights=self.weights)
        return self

    def _solve(self, x: NDArray[np.float64], prior: NDArray[np.float64], targets: NDArray[np.float64],
               weights: NDArray[np.float64] | None = None) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Weights and bias (or the bias alone, given the weights) minimising the labels' weighted log-loss."""
        import numpy as np
        from scipy.optimize import minimize

        d, k = x.shape[1], prior.shape[1]
        row_weight = targets.sum(axis=1, keepdims=True)
        fixed = None if weights is None else x @ weights

        def loss(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
            if fixed is None:
                w, b = theta[: d * k].reshape(d, k), theta[d * k:]
                z = x @ w + b + prior
            else:
                b = theta
                z = fixed + b + prior
            z -= z.max(axis=1, keepdims=True)
            log_norm = np.log(np.exp(z).sum(axis=1, keepdims=True))
            p = np.exp(z - log_norm)
            value = -(targets * (z - log_norm)).sum() + (theta @ theta) / (2 * self.c)
            g = p * row_weight - targets
            grad = g.sum(axis=0) if fixed is not None else np.concatenate([(x.T @ g).ravel(), g.sum(axis=0)])
            return value, grad + theta / self.c

        size = k if fixed is not None else d * k + k
        found = minimize(loss, np.zeros(size), jac=True, method="L-BFGS-B", options={"maxiter": 500})
        if weights is not None:
            return weights, found.x
        return found.x[: d * k].reshape(d, k), found.x[d * k:]

    def predict_proba(self, x: NDArray[np.float64], prior: NDArray[np.float64],
                      mix: bool = False) -> NDArray[np.float64]:
        """Probabilities without the label mix as a prior, or (`mix`) with it."""
        import numpy as np

        z = self._logits(x, prior, mix)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        proba: NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
        return proba


class Stack(TypedDict):
    """One learned task: its word models and its combiner (and, in a model, whether intent reads the sentiment)."""

    words: WordModels
    combiner: Combiner
    uses_sentiment: NotRequired[bool]


def fit_stack(texts: Texts, features: NDArray[np.float64], prior: NDArray[np.float64], y: NDArray[np.intp]) -> Stack:
    """Word models on the texts, and a combiner of their out-of-fold verdicts with the rules' evidence."""
    import numpy as np

    x = np.hstack([inner_columns(texts, y, folds(y)), features])
    return {"words": WordModels(texts, y), "combiner": Combiner(COMBINER_C).fit(x, prior, y)}


def stack_proba(part: Stack, texts: Texts, features: NDArray[np.float64], prior: NDArray[np.float64], *,
                mix: bool = False) -> NDArray[np.float64]:
    """Probabilities, columns in the order of the task's classes (`mix`: with the labels' mix as a prior)."""
    import numpy as np

    return part["combiner"].predict_proba(np.hstack([part["words"].columns(texts), features]), prior, mix)


def deferring(texts: Texts, proba: NDArray[np.float64], prior: NDArray[np.float64]) -> NDArray[np.float64]:
    """The model's probabilities moved back towards the rules' verdict on posts made of words the labels never showed
    (see DEFER_BELOW): there the model knows nothing but what it learned of its own brand's posts."""
    import numpy as np

    trust = np.clip((texts.coverage() - DEFER_BELOW) / (TRUST_ABOVE - DEFER_BELOW), 0.0, 1.0)
    if trust.min() >= 1.0:
        return proba
    log_p = trust * np.log(np.maximum(proba, 1e-12)) + (1.0 - trust) * prior
    log_p -= log_p.max(axis=1, keepdims=True)
    p = np.exp(log_p)
    moved: NDArray[np.float64] = p / p.sum(axis=1, keepdims=True)
    return moved
