"""reptutor.estimators.nwj: the declarations the harnesses collect (bad inputs, robustness,
double backward). NWJ's closed forms, loop reference and invariants are tested beside InfoNCE's,
with which it shares its references, in ``test_estimators_infonce.py``."""
from __future__ import annotations

import reptutor.estimators as E

import _gradcheck as G
import _robustness as R
import _validation as V


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("estimators.nwj", lambda: {"scores": V.randn(6, 6)}, (
        V.rank("scores", lambda x: x[0]), V.shape("scores", lambda k: k["scores"][:, :5]),
        V.empty("scores"), V.nonfinite("scores"), V.choice("reduction", V.REDUCTIONS),
        V.wrong_type("scores"))),
]

ROBUSTNESS = {
    # critic scores: + 1e4 overflows e^{F-1}: the documented -inf (see test_robustness.py)
    "nwj": R.scores_case(E.nwj, None, overflows_to_minus_inf=True),
}

SECOND_ORDER = {
    # plain torch ops
    "nwj": ("exact", lambda: G.one(lambda f: E.nwj(f, reduction="none"), G.x(4, 4, seed=63))),
}
