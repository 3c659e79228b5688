r"""Linear probes: how much of a label or factor a frozen representation exposes linearly.

The standard evaluation of self-supervised representations: freeze the encoder, fit a linear
model on its features, report test accuracy (classification) or :math:`R^2` (regression). Both
probes here are deterministic, run on the representation's device, and fit convex problems to
optimality (L-BFGS for the multinomial logistic regression, a linear solve for ridge).

References:
    G. Alain, Y. Bengio. *Understanding intermediate layers using linear classifier probes*.
    ICLR workshop 2017, arXiv:1610.01644v4.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from reptutor import _checks, _precision

__all__ = ["linear_probe_accuracy", "ridge_probe_r2"]


def _standardize(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = train.mean(0, keepdim=True)
    std = train.std(0, keepdim=True).clamp_min(1e-8)  # constant features stay 0, not NaN
    return (train - mean) / std, (test - mean) / std


def _check_split(z_train, z_test) -> None:
    _checks.tensor("z_train", z_train, ndim=2)
    _checks.tensor("z_test", z_test, ndim=2)
    _checks.same_device_dtype("z_train", z_train, "z_test", z_test)
    if z_train.shape[1] != z_test.shape[1]:
        raise ValueError(
            "z_train and z_test must have the same number of features, "
            f"got {z_train.shape[1]} and {z_test.shape[1]}"
        )


def linear_probe_accuracy(
    z_train: torch.Tensor,
    y_train: torch.Tensor,
    z_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    weight_decay: float = 1e-4,
    max_iter: int = 200,
    standardize: bool = True,
) -> float:
    r"""Test accuracy of a multinomial logistic regression fitted on frozen features.

    Fits :math:`W, b` minimising
    :math:`\frac1N\sum_i \mathrm{CE}(W z_i + b, y_i) + \frac{\lambda}{2}\lVert W\rVert_F^2`
    (features standardised with the training statistics when ``standardize``) with L-BFGS, then
    returns :math:`\frac{1}{N_{test}}\sum_i [\arg\max_k (W z_i + b)_k = y_i]`.

    Args:
        z_train: training features.
        y_train: training labels in ``[0, K)``.
        z_test: test features.
        y_test: test labels.
        weight_decay: :math:`\lambda \ge 0` (a little keeps separable problems bounded).
        max_iter: L-BFGS iterations.
        standardize: z-score the features with the training mean and std first (needs at
            least 2 training rows; without it one row is a valid, if uninformative, probe).

    Returns:
        Accuracy in [0, 1], higher is better.

    Shape:
        ``z_train``: (N, D), ``y_train``: (N,), ``z_test``: (N', D), ``y_test``: (N',).

    Examples:
        Labels that are the sign of the first feature are read perfectly; a feature-free
        probe can only predict the majority class.

        >>> g = torch.Generator().manual_seed(0)
        >>> z = torch.randn(200, 3, generator=g); y = (z[:, 0] > 0).long()
        >>> linear_probe_accuracy(z[:100], y[:100], z[100:], y[100:])
        1.0
        >>> linear_probe_accuracy(torch.zeros(100, 3), y[:100], torch.zeros(100, 3), y[100:]) <= 0.6
        True
    """
    _check_split(z_train, z_test)
    _checks.labels("y_train", y_train, n=z_train.shape[0])
    _checks.labels("y_test", y_test, n=z_test.shape[0])
    lam = _checks.number("weight_decay", weight_decay, nonnegative=True)
    _checks.integer("max_iter", max_iter, minimum=1)
    if _checks.boolean("standardize", standardize):
        _checks.rows("z_train", z_train, 2, "standardize=True divides by each feature's "
                     "standard deviation over the training rows")
    k = int(max(int(y_train.max()), int(y_test.max()))) + 1
    with torch.enable_grad():
        x_tr, x_te = (_standardize(z_train, z_test) if standardize else (z_train, z_test))
        x_tr, x_te = x_tr.detach(), x_te.detach()
        w = torch.zeros(x_tr.shape[1], k, device=x_tr.device, dtype=x_tr.dtype, requires_grad=True)
        b = torch.zeros(k, device=x_tr.device, dtype=x_tr.dtype, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, tolerance_grad=1e-9,
                                tolerance_change=1e-12, history_size=20,
                                line_search_fn="strong_wolfe")
        y_tr = y_train.to(x_tr.device)

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(x_tr @ w + b, y_tr) + 0.5 * lam * (w * w).sum()
            loss.backward()
            return loss

        opt.step(closure)
    with torch.no_grad():
        pred = (x_te @ w + b).argmax(1)  # (N',) predicted classes
        return float((pred == y_test.to(pred.device)).double().mean())


def _ridge_solve(gram: torch.Tensor, rhs: torch.Tensor, alpha: float) -> torch.Tensor:
    r"""``(G + alpha I)^+ rhs`` by deterministic factorisations (no ``torch.linalg.lstsq``).

    Cholesky of :math:`G + \alpha I` when :math:`\alpha > 0` and it succeeds; otherwise (a
    singular :math:`G` with :math:`\alpha = 0`, collinear features) the eigendecomposition
    :math:`G = V \Lambda V^\top` gives the minimum-norm solution
    :math:`V (\Lambda + \alpha I)^+ V^\top\,\mathrm{rhs}`, eigenvalues at most
    :math:`D\,\varepsilon_{\text{mach}} \lambda_{\max}` counting as 0 (the rank tolerance of
    ``numpy.linalg.matrix_rank``).
    """
    d = gram.shape[0]
    eye = torch.eye(d, dtype=gram.dtype, device=gram.device)
    if alpha > 0:
        chol, info = torch.linalg.cholesky_ex(gram + alpha * eye)  # (D, D) lower factor
        if int(info) == 0:
            return torch.cholesky_solve(rhs, chol)  # (D, M)
    lam, vec = torch.linalg.eigh(gram)  # ascending eigenvalues of the PSD G
    shifted = lam + alpha
    tol = d * torch.finfo(gram.dtype).eps * float(shifted.abs().max())
    inv = torch.where(shifted > tol, 1.0 / shifted, torch.zeros_like(shifted))  # pseudo-inverse
    return vec @ (inv[:, None] * (vec.T @ rhs))  # (D, M)


def ridge_probe_r2(
    z_train: torch.Tensor,
    t_train: torch.Tensor,
    z_test: torch.Tensor,
    t_test: torch.Tensor,
    *,
    alpha: float = 1e-3,
) -> float:
    r"""Test :math:`R^2` of a ridge regression from frozen features to continuous targets.

    Solves :math:`\min_{W,b} \frac1N\lVert Z W + b - T\rVert_F^2 + \alpha\lVert W\rVert_F^2`
    in closed form (centred features and targets, :math:`W = (Z_c^\top Z_c / N + \alpha I)^{-1}
    Z_c^\top T_c / N`; for :math:`\alpha = 0` and collinear features, the minimum-norm solution,
    with the pseudo-inverse) and returns the test :math:`R^2 = 1 - \mathrm{SSE}/\mathrm{SST}` per
    target, averaged uniformly over targets (scikit-learn's ``r2_score`` with
    ``multioutput="uniform_average"``; the SST uses the test mean).

    **Deterministic.** Everything is computed in float64 (float32 on Apple's MPS, which has no
    float64), whatever the input dtype (float16 and bfloat16 included), and the normal equations
    are solved by Cholesky (an eigendecomposition when :math:`\alpha = 0` leaves them singular):
    repeated calls on the same inputs return bit-identical values. ``torch.linalg.lstsq``'s
    default CPU driver (``gelsy``) does not: 34 of 200 identical float32 calls differed.

    **Constant targets.** :math:`R^2` is undefined for a target that is constant on the test
    rows (:math:`\mathrm{SST} = 0`); such a target raises ``ValueError`` naming its column,
    instead of returning :math:`-\infty` (scikit-learn substitutes 0 or 1 for it, which would
    silently change the average).

    Args:
        z_train: training features.
        t_train: training targets, (N,) or (N, M).
        z_test: test features.
        t_test: test targets, same number of columns as ``t_train``, none of them constant.
        alpha: ridge strength :math:`\alpha \ge 0`.

    Returns:
        :math:`R^2` in :math:`(-\infty, 1]`, 1 = perfectly linearly decodable, 0 = no better than
        the mean; a Python float.

    Shape:
        ``z_*``: (N, D); ``t_*``: (N,) or (N, M).

    Raises:
        TypeError: for non-tensor or non-floating inputs, or ``z_train``/``z_test`` of different
            dtypes.
        ValueError: for wrong ranks or row counts, non-finite values, a negative ``alpha``,
            tensors on different devices or on the ``meta`` device (no values to fit), or a
            target column that is constant on the test rows.

    Examples:
        A target that is a linear function of the features is decoded exactly, and a repeated
        call returns the same number to the last bit.

        >>> g = torch.Generator().manual_seed(0)
        >>> z = torch.randn(300, 4, generator=g, dtype=torch.float64)
        >>> t = z @ torch.tensor([1.0, -2.0, 0.0, 0.5], dtype=torch.float64) + 3
        >>> r2 = ridge_probe_r2(z[:200], t[:200], z[200:], t[200:], alpha=0.0)
        >>> round(r2, 6), r2 == ridge_probe_r2(z[:200], t[:200], z[200:], t[200:], alpha=0.0)
        (1.0, True)
    """
    _check_split(z_train, z_test)
    _checks.tensor("t_train", t_train, ndim=(1, 2))
    _checks.tensor("t_test", t_test, ndim=(1, 2))
    a = _checks.number("alpha", alpha, nonnegative=True)
    t_tr = t_train[:, None] if t_train.ndim == 1 else t_train
    t_te = t_test[:, None] if t_test.ndim == 1 else t_test
    if t_tr.shape[0] != z_train.shape[0]:
        raise ValueError(f"t_train must have {z_train.shape[0]} rows like z_train, got {t_tr.shape[0]}")
    if t_te.shape[0] != z_test.shape[0]:
        raise ValueError(f"t_test must have {z_test.shape[0]} rows like z_test, got {t_te.shape[0]}")
    if t_tr.shape[1] != t_te.shape[1]:
        raise ValueError(f"t_train and t_test must have the same number of targets, got {t_tr.shape[1]} and {t_te.shape[1]}")
    _checks.same_device("z_train", z_train, "t_train", t_train)
    _checks.same_device("z_test", z_test, "t_test", t_test)
    for name, x in (("z_train", z_train), ("t_train", t_train), ("z_test", z_test), ("t_test", t_test)):
        _precision.has_values(name, x, "ridge_probe_r2", "it fits a regression and returns a number")
    constant = (t_te == t_te[:1]).all(dim=0)  # (M,) targets with SST = 0 on the test rows
    if bool(constant.any()):
        cols = constant.nonzero().flatten().tolist()
        which = "t_test is constant" if t_test.ndim == 1 else f"t_test has constant column(s) {cols}"
        raise ValueError(
            f"{which} over its {t_te.shape[0]} test row(s): R^2 = 1 - SSE/SST is undefined when "
            "SST = 0; drop the constant target(s) or use more test rows"
        )
    # float64 whatever the input dtype: deterministic, and exact casts from float16/bfloat16
    work = torch.float32 if z_train.device.type == "mps" else torch.float64
    z_tr, z_te = z_train.detach().to(work), z_test.detach().to(work)
    t_tr, t_te = t_tr.detach().to(work), t_te.detach().to(work)
    zm, tm = z_tr.mean(0), t_tr.mean(0)
    zc, tc = z_tr - zm, t_tr - tm  # centred training data
    n = zc.shape[0]
    w = _ridge_solve(zc.T @ zc / n, zc.T @ tc / n, a)  # (D, M) from the (D, D) normal equations
    pred = (z_te - zm) @ w + tm  # (N', M)
    sse = ((t_te - pred) ** 2).sum(0)  # (M,)
    sst = ((t_te - t_te.mean(0)) ** 2).sum(0)  # (M,), > 0: constant targets were rejected
    return float((1 - sse / sst).mean())
