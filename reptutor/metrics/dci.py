r"""DCI: disentanglement, completeness and informativeness from an importance matrix.

C. Eastwood, C. K. I. Williams, "A Framework for the Quantitative Evaluation of Disentangled
Representations", ICLR 2018 (openreview By-7dz-AZ). The scores of an importance matrix follow
google-research/disentanglement_lib (Locatello et al., ICML 2019, arXiv:1811.12359v4); the
importances come from the paper's linear regressors (Lasso, solved for all factors at once by
the FISTA solver of ``reptutor.solvers._lasso``, or ridge in closed form), on the codes' device.

Taught in Part V, *Disentanglement* (``notebooks/05_disentanglement``).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from reptutor import _checks, _precision
from reptutor.solvers._lasso import fista_lasso

__all__ = ["DCIScores", "DCIResult", "dci_from_importance", "dci"]


class DCIScores(NamedTuple):
    """What :func:`dci_from_importance` returns."""

    #: Importance-weighted mean of ``disentanglement_per_code``, in [0, 1], higher is better.
    disentanglement: float
    #: Importance-weighted mean of ``completeness_per_factor``, in [0, 1], higher is better.
    completeness: float
    #: :math:`D_j = 1 - H_M(P_{j\cdot})` of each code dimension, shape ``(L,)``.
    disentanglement_per_code: torch.Tensor
    #: :math:`C_m = 1 - H_L(\tilde P_{\cdot m})` of each factor, shape ``(M,)``.
    completeness_per_factor: torch.Tensor


class DCIResult(NamedTuple):
    """What :func:`dci` returns: the three scores, their parts and the importance matrix."""

    #: As in :class:`DCIScores`, in [0, 1], higher is better.
    disentanglement: float
    #: As in :class:`DCIScores`, in [0, 1], higher is better.
    completeness: float
    #: Mean normalised RMSE of the linear predictions of the standardised factors,
    #: :math:`\ge 0`, lower is better (1 = predicting the mean).
    informativeness: float
    #: Shape ``(L,)``, as in :class:`DCIScores`.
    disentanglement_per_code: torch.Tensor
    #: Shape ``(M,)``, as in :class:`DCIScores`.
    completeness_per_factor: torch.Tensor
    #: The importance matrix :math:`R = |W|`, shape ``(L, M)``.
    importance: torch.Tensor


def _entropy_score(p: torch.Tensor, base: int, dim: int) -> torch.Tensor:
    """1 - entropy (base ``base``) of ``p + 1e-11`` normalised along ``dim``, as scipy.stats."""
    q = p + 1e-11  # disentanglement_lib's offset: all-zero rows become uniform, not 0/0
    q = q / q.sum(dim=dim, keepdim=True)
    return 1.0 - (-(q * q.log()).sum(dim=dim) / math.log(base))


def dci_from_importance(importance: torch.Tensor) -> DCIScores:
    r"""Disentanglement and completeness of an importance matrix.

    C. Eastwood, C. K. I. Williams, "A Framework for the Quantitative Evaluation of Disentangled
    Representations", ICLR 2018 (openreview By-7dz-AZ), Sec. 3. With :math:`R_{jm} \ge 0` the
    importance of code dimension :math:`j` for predicting factor :math:`m`,
    :math:`P_{jm} = R_{jm} / \sum_{m'} R_{jm'}` and :math:`\tilde P_{jm} = R_{jm} /
    \sum_{j'} R_{j'm}`,

    .. math::

        D = \sum_j \rho_j \big(1 - H_M(P_{j\cdot})\big), \quad
        \rho_j = \frac{\sum_m R_{jm}}{\sum_{j m} R_{jm}}, \qquad
        C = \sum_m \tilde\rho_m \big(1 - H_L(\tilde P_{\cdot m})\big), \quad
        \tilde\rho_m = \frac{\sum_j R_{jm}}{\sum_{j m} R_{jm}},

    with :math:`H_K(p) = -\sum_k p_k \log_K p_k`. As disentanglement_lib
    (``disentanglement``/``completeness``; Locatello et al., ICML 2019, arXiv:1811.12359v4),
    :math:`10^{-11}` is added to :math:`R` inside the entropies, and weights are uniform when
    :math:`R = 0`. The paper averages :math:`C` uniformly over factors in its released code;
    the weighted version here is disentanglement_lib's.

    Args:
        importance: non-negative importance matrix :math:`R`.

    Returns:
        :class:`DCIScores`; both scores in [0, 1], higher is better.

    Shape:
        ``importance``: ``(L, M)`` with :math:`L, M \ge 2`.

    Raises:
        TypeError: for a non-tensor or non-float input.
        ValueError: for a non-2-D, empty or non-finite input, fewer than two rows or columns,
            or a negative entry.

    Examples:
        A diagonal importance (each code predicts one factor, alone) is perfectly disentangled
        and complete; a uniform one is neither:

        >>> s = dci_from_importance(torch.eye(3, dtype=torch.float64))
        >>> round(s.disentanglement, 6), round(s.completeness, 6)
        (1.0, 1.0)
        >>> s = dci_from_importance(torch.ones(3, 3, dtype=torch.float64))
        >>> round(s.disentanglement, 6), round(s.completeness, 6)
        (0.0, 0.0)
    """
    _checks.tensor("importance", importance, ndim=2, min_rows=2)
    if importance.shape[1] < 2:
        raise ValueError(
            f"importance must have at least 2 columns (factors), got shape {tuple(importance.shape)}"
        )
    if bool((importance < 0).any()):
        raise ValueError(
            f"importance must be non-negative, got minimum {float(importance.min())}"
        )
    latent, factors = importance.shape
    per_code = _entropy_score(importance, factors, dim=1)  # (L,) 1 - H_M over factors
    per_factor = _entropy_score(importance, latent, dim=0)  # (M,) 1 - H_L over codes
    weights = importance if bool(importance.sum() > 0) else torch.ones_like(importance)
    rho = weights.sum(dim=1) / weights.sum()  # (L,) relative importance of each code
    rho_tilde = weights.sum(dim=0) / weights.sum()  # (M,) relative importance of each factor
    return DCIScores(float((rho * per_code).sum()), float((rho_tilde * per_factor).sum()),
                     per_code, per_factor)


def _standardize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return (x - mean) / torch.where(std > 0, std, 1.0)  # a constant column stays 0, not NaN


def dci(
    codes: torch.Tensor,
    factors: torch.Tensor,
    *,
    importance: str = "lasso",
    alpha: float = 0.02,
    eval_codes: torch.Tensor | None = None,
    eval_factors: torch.Tensor | None = None,
    max_iter: int = 5000,
    tol: float = 1e-7,
) -> DCIResult:
    r"""Disentanglement, completeness and informativeness with a linear importance matrix.

    C. Eastwood, C. K. I. Williams, "A Framework for the Quantitative Evaluation of Disentangled
    Representations", ICLR 2018 (openreview By-7dz-AZ). Codes and factors are standardised
    (mean 0, population std 1, with the statistics of ``codes``/``factors``); one linear
    regressor per factor predicts :math:`\hat v_m = z^\top w_m`, all :math:`M` at once:

    * ``"lasso"`` (the paper's linear choice, with its released code's :math:`\alpha = 0.02`):
      :math:`\min_W \frac{1}{2N} \lVert V - Z W \rVert_F^2 + \alpha \lVert W \rVert_1`
      (scikit-learn's ``Lasso`` objective), solved by FISTA on the :math:`L \times L` Gram
      matrix until no weight moves by more than ``tol`` (``reptutor.solvers._lasso``);
    * ``"ridge"``: :math:`\min_W \frac{1}{N} \lVert V - Z W \rVert_F^2 + \alpha \lVert W
      \rVert_F^2`, in closed form :math:`W = (Z^\top Z / N + \alpha I)^{-1} Z^\top V / N`.

    The importance is :math:`R = |W|` and :func:`dci_from_importance` gives :math:`D` and
    :math:`C`. Informativeness is the paper's prediction error: the mean over factors of the
    normalised RMSE :math:`\sqrt{\operatorname{mean}_i (v_{im} - \hat v_{im})^2} /
    \operatorname{std}(v_m)` on ``eval_codes``/``eval_factors`` when given, else in sample.

    Difference from disentanglement_lib, whose ``compute_dci`` fits one scikit-learn
    gradient-boosted tree ensemble per factor (CPU only, seconds to minutes) and reports
    classification accuracies as informativeness: the linear importances here are the paper's
    Lasso (its other choice was random forests), run on the codes' device in milliseconds, and
    they only see linear relations, so a code that encodes a factor non-monotonically gets low
    importance. :func:`dci_from_importance` accepts any importance matrix (trees included).

    Args:
        codes: training codes.
        factors: their factors (integer or floating dtype, treated as real values).
        importance: ``"lasso"`` or ``"ridge"``.
        alpha: regularisation strength :math:`\alpha \ge 0` (on standardised variables).
        eval_codes: optional held-out codes for informativeness.
        eval_factors: their factors; given exactly when ``eval_codes`` is.
        max_iter: maximum FISTA iterations (Lasso).
        tol: FISTA stops when no weight changes by more than this (Lasso).

    Returns:
        :class:`DCIResult`.

    Shape:
        ``codes``: ``(N, L)``, :math:`L \ge 2`; ``factors``: ``(N, M)``, :math:`M \ge 2`;
        ``eval_codes``: ``(N', L)``; ``eval_factors``: ``(N', M)``.

    Raises:
        TypeError: for non-tensor or non-float codes, non-real factors, non-number
            hyper-parameters, or float codes and factors (train or eval) of different dtypes.
        ValueError: for wrong shapes or row counts, non-finite values, an unknown
            ``importance``, a negative ``alpha``, only one of ``eval_codes``/``eval_factors``,
            or inputs on different devices.

    Examples:
        Codes that are a scaled permutation of the factors are disentangled and complete;
        a 45-degree rotation of the factors, which mixes both into both codes equally, is
        neither:

        >>> g = torch.Generator().manual_seed(0)
        >>> v = torch.randn(2000, 2, generator=g, dtype=torch.float64)
        >>> r = dci(v[:, [1, 0]] * 5.0, v)
        >>> round(r.disentanglement, 3), round(r.completeness, 3)
        (1.0, 1.0)
        >>> rotation = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
        >>> r = dci(v @ rotation, v, importance="ridge", alpha=0.0)
        >>> r.disentanglement < 0.01, r.completeness < 0.01, r.informativeness < 1e-6
        (True, True, True)
    """
    _checks.tensor("codes", codes, ndim=2, min_rows=2)
    if codes.shape[1] < 2:
        raise ValueError(f"codes must have at least 2 dimensions, got shape {tuple(codes.shape)}")
    if not isinstance(factors, torch.Tensor):
        raise TypeError(f"factors must be a torch.Tensor, got {_checks._describe(factors)}")
    if factors.dtype.is_complex or factors.dtype == torch.bool:
        raise TypeError(f"factors must have a real (integer or float) dtype, got {factors.dtype}")
    factors = factors.to(codes.dtype) if not factors.is_floating_point() else factors
    _checks.tensor("factors", factors, ndim=2)
    if factors.shape[1] < 2:
        raise ValueError(f"factors must have at least 2 columns, got shape {tuple(factors.shape)}")
    _checks.dim_size("factors", factors, 0, codes.shape[0], "one row per code")
    _checks.same_device_dtype("codes", codes, "factors", factors)
    importance = _checks.choice("importance", importance, ("lasso", "ridge"))
    alpha = _checks.number("alpha", alpha, nonnegative=True)
    max_iter = _checks.integer("max_iter", max_iter, minimum=1)
    tol = _checks.number("tol", tol, positive=True)
    if (eval_codes is None) != (eval_factors is None):
        raise ValueError("eval_codes and eval_factors must be given together, got only one")
    if eval_codes is not None:
        _checks.tensor("eval_codes", eval_codes, ndim=2)
        _checks.same_device_dtype("codes", codes, "eval_codes", eval_codes)
        _checks.dim_size("eval_codes", eval_codes, 1, codes.shape[1], "the code dimension L")
        if not isinstance(eval_factors, torch.Tensor):
            raise TypeError(
                f"eval_factors must be a torch.Tensor, got {_checks._describe(eval_factors)}")
        if eval_factors.dtype.is_complex or eval_factors.dtype == torch.bool:
            raise TypeError(
                f"eval_factors must have a real (integer or float) dtype, got {eval_factors.dtype}")
        if not eval_factors.is_floating_point():  # integer factors are real values, as factors
            eval_factors = eval_factors.to(codes.dtype)
        _checks.tensor("eval_factors", eval_factors, ndim=2)
        _checks.dim_size("eval_factors", eval_factors, 0, eval_codes.shape[0],
                         "one row per eval code")
        _checks.dim_size("eval_factors", eval_factors, 1, factors.shape[1], "the factors M")
        _checks.same_device_dtype("codes", codes, "eval_factors", eval_factors)
    _precision.has_values("codes", codes, "dci", "it fits regressions and returns numbers")
    # LAPACK has no float16 / bfloat16 kernels (eigvalsh, solve): fit in float32, an exact cast
    codes, factors = _precision.upcast(codes), _precision.upcast(factors)
    if eval_codes is not None:
        eval_codes, eval_factors = _precision.upcast(eval_codes), _precision.upcast(eval_factors)

    n = codes.shape[0]
    z_mean, z_std = codes.mean(0), codes.std(0, correction=0)  # (L,), (L,)
    v_mean, v_std = factors.mean(0), factors.std(0, correction=0)  # (M,), (M,)
    z, v = _standardize(codes, z_mean, z_std), _standardize(factors, v_mean, v_std)
    gram = z.T @ z / n  # (L, L) Z^T Z / N
    cross = z.T @ v / n  # (L, M) Z^T V / N
    if importance == "ridge":
        eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
        weights = torch.linalg.solve(gram + alpha * eye, cross)  # (L, M)
    else:
        weights = fista_lasso(gram, cross, alpha=alpha, max_iter=max_iter, tol=tol)  # (L, M)
    scores = dci_from_importance(weights.abs())
    if eval_codes is None:
        z_eval, v_eval = z, v
    else:
        z_eval = _standardize(eval_codes, z_mean, z_std)
        v_eval = _standardize(eval_factors, v_mean, v_std)
    rmse = ((v_eval - z_eval @ weights) ** 2).mean(0).sqrt()  # (M,)
    spread = v_eval.std(0, correction=0)  # (M,)
    nrmse = rmse / torch.where(spread > 0, spread, 1.0)
    return DCIResult(scores.disentanglement, scores.completeness, float(nrmse.mean()),
                     scores.disentanglement_per_code, scores.completeness_per_factor,
                     weights.abs())
