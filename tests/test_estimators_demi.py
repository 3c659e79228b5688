"""reptutor.estimators.demi: the declarations the harnesses collect (bad inputs, robustness,
double backward). DEMI's closed forms, loop reference and invariants are tested beside
conditional InfoNCE's, with which it shares its references, in ``test_estimators_infonce.py``."""
from __future__ import annotations

import reptutor.estimators as E

import _gradcheck as G
import _robustness as R
import _validation as V


# ---------------------------------------------------------------- declarations for the harnesses
def _valid() -> dict:
    return {"pos_scores": V.randn(6, 2), "neg_scores": V.randn(6, 2, 4, seed=1)}


VALIDATION = [
    V.Entry("estimators.demi", _valid, (
        *V.pair_cells("pos_scores", "neg_scores", feature_dim=1), V.choice("reduction", V.REDUCTIONS))),
    V.Entry("estimators.demi_terms", _valid, V.pair_cells("pos_scores", "neg_scores", feature_dim=1)),
]


def _scores(dt):  # (N, M) positive and (N, M, K) conditional-negative critic scores
    return R.randn(R.N, 3, seed=14, dtype=dt), R.randn(R.N, 3, 4, seed=15, dtype=dt)


ROBUSTNESS = {
    # critic scores: + 1e4 (both terms are invariant to it)
    "demi": R.Case(make=_scores, call=lambda p, q, t=None: E.demi(p / R.swept(t, 1.0), q / R.swept(t, 1.0)),
                   big="add", expect=R.SAME, bf16=(1, R.VALUE)),
    "demi_terms": R.Case(make=_scores, call=lambda p, q, t=None: R.sum_fields(
        E.demi_terms(p / R.swept(t, 1.0), q / R.swept(t, 1.0))), big="add", expect=R.SAME, bf16=(1, R.VALUE)),
}

SECOND_ORDER = {
    # plain torch ops
    "demi": ("exact", lambda: G.one(
        lambda p, n: E.demi(p, n, reduction="none"), G.x(4, 2, seed=64), G.x(4, 2, 3, seed=65))),
    "demi_terms": ("exact", lambda: G.one(E.demi_terms, G.x(4, 2, seed=64), G.x(4, 2, 3, seed=65))),
}
