r"""Correlated Gaussian pairs with a known mutual information, and their exact conditionals.

The synthetic benchmark of contrastive mutual-information estimators (Poole et al., "On
Variational Bounds of Mutual Information", ICML 2019, arXiv:1905.06922; Sordoni et al.,
"Decomposed Mutual Information Estimation for Contrastive Representation Learning", ICML 2021,
arXiv:2106.13401): two views :math:`x, y \in \mathbb R^D` whose mutual information is known in
closed form, whose optimal critic :math:`\log p(y\mid x)/p(y)` can be evaluated exactly, and whose
conditionals :math:`p(y_k \mid y_{<k})` can be sampled exactly, so that a decomposed (chain-rule)
estimator can be checked term by term.

Taught in the chapter *Why InfoNCE can't see more than log K, and the chain-rule fix (DEMI)*
(``notebooks/01_information/01_infonce_demi``).
"""
from __future__ import annotations

import math
from typing import Any

import torch

from reptutor import _checks

__all__ = ["CorrelatedGaussian", "ar1_covariance"]


def ar1_covariance(dim: int, phi: float, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    r"""The AR(1) (Kac-Murdock-Szegő) correlation matrix :math:`\Sigma_{ij} = \phi^{|i-j|}`.

    Used as the within-view covariance of :class:`CorrelatedGaussian` when the chain-rule
    conditionals :math:`p(y_k \mid y_{<k})` should differ from the marginals :math:`p(y_k)`
    (with :math:`\phi = 0` the coordinates are independent and every conditional is a marginal).

    Args:
        dim: the dimension :math:`D`, at least 1.
        phi: the lag-one correlation, in :math:`(-1, 1)` (positive definite there).
        dtype: floating dtype of the result (CPU tensor); an integer or bool dtype is an
            error (the entries :math:`\phi^{|i-j|}` are fractions).

    Returns:
        The :math:`(D, D)` matrix, unit diagonal, positive definite.

    Shape:
        ``(D, D)``.

    Raises:
        TypeError: if ``dim`` is not an integer, ``phi`` is not a real number or ``dtype`` is
            not a floating torch.dtype.
        ValueError: if ``dim < 1`` or ``|phi| >= 1``.

    Examples:
        >>> s = ar1_covariance(3, 0.5)
        >>> s
        tensor([[1.0000, 0.5000, 0.2500],
                [0.5000, 1.0000, 0.5000],
                [0.2500, 0.5000, 1.0000]], dtype=torch.float64)
        >>> bool(torch.linalg.eigvalsh(s).min() > 0)  # positive definite
        True
    """
    _checks.integer("dim", dim, minimum=1)
    phi = _checks.number("phi", phi, minimum=-1.0, maximum=1.0)
    if abs(phi) >= 1.0:
        raise ValueError(f"phi must lie strictly between -1 and 1, got {phi}")
    _floating_dtype(dtype)  # an integer dtype would round phi^|i-j| to 0 / 1 silently
    idx = torch.arange(dim, dtype=dtype)
    lag = (idx[:, None] - idx[None, :]).abs()  # (D, D) |i - j|
    return torch.full((dim, dim), phi, dtype=dtype).pow(lag)


class CorrelatedGaussian:
    r"""Two views :math:`x, y \in \mathbb R^D` with correlation :math:`\rho` and known MI.

    Sordoni, Dziri, Schulz, Gordon, Bachman, Tachet des Combes, "Decomposed Mutual Information
    Estimation for Contrastive Representation Learning", ICML 2021, arXiv:2106.13401 (the
    synthetic Gaussian setting; the "componentwise correlated Gaussian" benchmark follows Poole
    et al., ICML 2019, arXiv:1905.06922).

    The generative model, with a within-view covariance :math:`\Sigma` (identity by default):

    .. math::

        x \sim \mathcal N(0, \Sigma), \qquad
        y = \rho\, x + \sqrt{1-\rho^2}\;\xi, \quad \xi \sim \mathcal N(0, \Sigma)
        \text{ independent of } x,

    so the joint covariance is :math:`\begin{pmatrix}1&\rho\\ \rho&1\end{pmatrix}\otimes\Sigma`,
    :math:`y \sim \mathcal N(0, \Sigma)` and :math:`y \mid x \sim \mathcal N(\rho x,
    (1-\rho^2)\Sigma)`. The mutual information does not depend on :math:`\Sigma`:

    .. math::

        I(x; y) = \tfrac12 \log\det\Sigma - \tfrac12\log\det\big((1-\rho^2)\Sigma\big)
                = -\tfrac D2 \log(1-\rho^2) \ \text{nats},

    and for a coordinate block :math:`B = [a, b)` after the prefix :math:`P = [0, a)` the
    chain-rule term is :math:`I(x; y_B \mid y_P) = -\tfrac{b-a}2\log(1-\rho^2)`: the information
    is spread evenly over coordinates, and :math:`\sum_k I(x; y_k\mid y_{<k}) = I(x; y)`.

    With :math:`A = \Sigma_{BP}\Sigma_{PP}^{-1}` and the Schur complement
    :math:`S = \Sigma_{BB} - A\,\Sigma_{PB}`, the two conditionals DEMI needs are

    .. math::

        y_B \mid y_P \sim \mathcal N(A\,y_P,\ S), \qquad
        y_B \mid x, y_P \sim \mathcal N\big(A\,y_P + \rho\,(x_B - A\,x_P),\ (1-\rho^2)\,S\big).

    A non-identity :math:`\Sigma` (e.g. :func:`ar1_covariance`) makes :math:`p(y_B\mid y_P)`
    differ from :math:`p(y_B)`, so sampling conditional negatives actually matters.

    This is our design for the synthetic check, not necessarily the paper's exact benchmark
    (the paper's synthetic section uses componentwise-correlated Gaussians; the Kronecker
    structure here is our assumption that keeps the MI closed form independent of
    :math:`\Sigma`).

    Args:
        dim: the dimension :math:`D` of each view.
        rho: the correlation :math:`\rho \in (-1, 1)`; give exactly one of ``rho`` / ``mi``.
        mi: the target :math:`I(x;y) \ge 0` in nats; then
            :math:`\rho = \sqrt{1 - e^{-2I/D}}` (non-negative).
        cov_x: the within-view covariance :math:`\Sigma`, symmetric positive definite
            :math:`(D, D)`; ``None`` means the identity.

    Shape:
        samples are ``(N, D)``; :meth:`log_density_ratio` broadcasts ``(..., D)`` pairs;
        :meth:`score_matrix` is ``(N, M)``; conditional candidates are ``(N, M, b - a)``.

    Raises:
        TypeError: if ``dim`` is not an integer, ``rho`` / ``mi`` are not real numbers or
            ``cov_x`` is not a floating tensor.
        ValueError: if not exactly one of ``rho`` / ``mi`` is given, ``|rho| >= 1``,
            ``mi < 0``, or ``cov_x`` is not a symmetric positive definite ``(D, D)`` matrix.

    Examples:
        >>> g = CorrelatedGaussian(20, mi=10.0)
        >>> round(g.mi(), 6), round(g.rho, 4)
        (10.0, 0.7951)
        >>> # the chain rule: four 5-coordinate chunks carry a quarter of the MI each
        >>> sum(g.conditional_mi(a, b) for a, b in g.chunks(4))
        10.0
        >>> # the optimal critic's mean on joint samples is the MI (Monte Carlo)
        >>> x, y = g.sample(20000, torch.Generator().manual_seed(0), dtype=torch.float64)
        >>> abs(g.log_density_ratio(x, y).mean().item() - 10.0) < 0.1
        True
    """

    def __init__(
        self,
        dim: int,
        *,
        rho: float | None = None,
        mi: float | None = None,
        cov_x: torch.Tensor | None = None,
    ) -> None:
        self.dim = _checks.integer("dim", dim, minimum=1)
        if (rho is None) == (mi is None):
            raise ValueError(
                f"give exactly one of rho and mi, got rho={rho!r} and mi={mi!r}"
            )
        if rho is not None:
            rho = _checks.number("rho", rho, minimum=-1.0, maximum=1.0)
            if abs(rho) >= 1.0:
                raise ValueError(f"rho must lie strictly between -1 and 1, got {rho}")
            self.rho = rho
            self._one_minus_rho2 = (1.0 - rho) * (1.0 + rho)  # avoids cancellation near |rho|=1
        else:
            mi = _checks.number("mi", mi, nonnegative=True)
            # 1 - rho^2 = exp(-2 I / D); computed directly, so large I/D keeps full precision
            self._one_minus_rho2 = math.exp(-2.0 * mi / self.dim)
            self.rho = math.sqrt(-math.expm1(-2.0 * mi / self.dim))
        if self._one_minus_rho2 <= 0.0:
            raise ValueError(
                f"mi={mi} is too large for dim={dim}: 1 - rho^2 underflows to 0 in float64"
            )
        if cov_x is None:
            sigma = torch.eye(self.dim, dtype=torch.float64)
        else:
            _checks.tensor("cov_x", cov_x, ndim=2)
            _checks.square("cov_x", cov_x)
            _checks.dim_size("cov_x", cov_x, 0, self.dim, "dim")
            sigma = cov_x.detach().to("cpu", torch.float64)
            if not torch.allclose(sigma, sigma.T, atol=1e-10, rtol=1e-8):
                err = (sigma - sigma.T).abs().max().item()
                raise ValueError(f"cov_x must be symmetric, got max |S - S^T| = {err:.3g}")
        chol, info = torch.linalg.cholesky_ex(sigma)
        if int(info) != 0:
            raise ValueError(
                "cov_x must be positive definite, got smallest eigenvalue "
                f"{torch.linalg.eigvalsh(sigma).min().item():.3g}"
            )
        self.cov_x = sigma
        self._chol = chol  # (D, D) lower Cholesky factor of Sigma, float64 on CPU
        self._cache: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def __repr__(self) -> str:
        ident = bool(torch.equal(self.cov_x, torch.eye(self.dim, dtype=torch.float64)))
        cov = "identity" if ident else "custom"
        return (f"CorrelatedGaussian(dim={self.dim}, rho={self.rho:.6g}, mi={self.mi():.6g}, "
                f"cov_x={cov})")

    # ------------------------------------------------------------------ closed forms
    def mi(self) -> float:
        r"""The mutual information :math:`I(x;y) = -\tfrac D2\log(1-\rho^2)` in nats."""
        return -0.5 * self.dim * math.log(self._one_minus_rho2)

    def conditional_mi(self, start: int, stop: int) -> float:
        r"""The chain-rule term :math:`I(x; y_{[a,b)} \mid y_{[0,a)}) = -\tfrac{b-a}2\log(1-\rho^2)`.

        Args:
            start: :math:`a`, the first coordinate of the block (the prefix is ``[0, a)``).
            stop: :math:`b`, one past the last coordinate, ``start < stop <= dim``.

        Returns:
            The conditional mutual information in nats.

        Raises:
            ValueError: if ``0 <= start < stop <= dim`` does not hold.
        """
        self._check_block(start, stop)
        return -0.5 * (stop - start) * math.log(self._one_minus_rho2)

    def chunks(self, m: int) -> list[tuple[int, int]]:
        r"""Split the coordinates ``[0, D)`` into ``m`` consecutive, nearly equal blocks.

        Args:
            m: the number of blocks, ``1 <= m <= dim``; the first ``D mod m`` blocks get one
                extra coordinate (like ``torch.tensor_split``).

        Returns:
            ``[(a_1, b_1), ..., (a_m, b_m)]`` with ``a_1 = 0``, ``b_k = a_{k+1}``, ``b_m = D``.

        Raises:
            ValueError: if ``m`` is outside ``[1, dim]``.

        Examples:
            >>> CorrelatedGaussian(10, rho=0.5).chunks(3)
            [(0, 4), (4, 7), (7, 10)]
        """
        _checks.integer("m", m, minimum=1, maximum=self.dim)
        base, extra = divmod(self.dim, m)
        bounds, start = [], 0
        for k in range(m):
            stop = start + base + (1 if k < extra else 0)
            bounds.append((start, stop))
            start = stop
        return bounds

    # ------------------------------------------------------------------ sampling
    def sample(
        self, n: int, generator: torch.Generator, *, dtype: torch.dtype = torch.float32
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Draw ``n`` joint pairs :math:`(x_i, y_i) \sim p(x, y)`.

        Args:
            n: the number of pairs, at least 1.
            generator: the random generator; the samples live on its device.
            dtype: floating dtype of the samples.

        Returns:
            ``(x, y)``, two ``(N, D)`` tensors; row ``i`` of ``y`` is the positive for row
            ``i`` of ``x``.

        Raises:
            TypeError: if ``generator`` is not a :class:`torch.Generator` or ``dtype`` is
                not floating.
            ValueError: if ``n < 1``.
        """
        _checks.integer("n", n, minimum=1)
        dev = _checks.generator("generator", generator).device
        _floating_dtype(dtype)
        chol = self._chol.to(dev, dtype)
        eps = torch.randn(2, n, self.dim, generator=generator, device=dev, dtype=dtype)
        x = eps[0] @ chol.T  # (N, D) ~ N(0, Sigma)
        xi = eps[1] @ chol.T  # (N, D) ~ N(0, Sigma), independent of x
        y = self.rho * x + math.sqrt(self._one_minus_rho2) * xi
        return x, y

    def conditional_sample(
        self, y: torch.Tensor, start: int, stop: int, num_samples: int,
        generator: torch.Generator,
    ) -> torch.Tensor:
        r"""Exact samples of the block :math:`y_{[a,b)}` given the prefix :math:`y_{[0,a)}`.

        Draws :math:`\tilde y^{(j)}_B \sim \mathcal N(A\,y_P, S)` (see the class docstring),
        ``num_samples`` per row of ``y``: the conditional negatives of DEMI's conditional
        InfoNCE term. With ``start = 0`` these are samples of the marginal :math:`p(y_B)`.

        Args:
            y: the conditioning views; only the columns ``[0, start)`` are read.
            start: :math:`a`, first coordinate of the block.
            stop: :math:`b`, one past its last coordinate.
            num_samples: :math:`M`, samples per row.
            generator: random generator on ``y``'s device.

        Returns:
            The samples, ``(N, M, b - a)``, on ``y``'s device and dtype.

        Shape:
            ``y: (N, D) -> (N, M, b - a)``.

        Raises:
            TypeError: if ``y`` is not a floating tensor or ``generator`` not a generator.
            ValueError: for a malformed ``y`` (not ``(N, D)``), block or ``num_samples``, or a
                generator on another device.
        """
        self._check_views("y", y)
        self._check_block(start, stop)
        _checks.integer("num_samples", num_samples, minimum=1)
        dev = _checks.generator("generator", generator).device
        if dev.type != y.device.type:
            raise ValueError(f"generator must be on y's device {y.device}, got {dev}")
        coef, chol_s, _ = self._block(start, stop, y)
        mean = y[:, :start] @ coef.T  # (N, b-a) = A y_P
        eps = torch.randn(y.shape[0], num_samples, stop - start, generator=generator,
                          device=y.device, dtype=y.dtype)
        return mean[:, None, :] + eps @ chol_s.T  # (N, M, b-a) ~ N(A y_P, S)

    # ------------------------------------------------------------------ optimal critics
    def log_density_ratio(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r"""The optimal critic :math:`f^\star(x, y) = \log p(y\mid x) - \log p(y)`.

        .. math::

            f^\star(x,y) = -\tfrac D2\log(1-\rho^2)
              - \frac{\lVert L^{-1}(y-\rho x)\rVert^2}{2(1-\rho^2)}
              + \frac{\lVert L^{-1}y\rVert^2}{2},
            \qquad \Sigma = LL^\top .

        Its mean over joint pairs is :math:`I(x;y)`.

        Args:
            x: first views, ``(..., D)``.
            y: second views, ``(..., D)``, broadcastable against ``x`` (``x[:, None]`` with
                ``y[None]`` gives all pairs; :meth:`score_matrix` does that with one matmul).

        Returns:
            The log density ratio, of the broadcast leading shape.

        Shape:
            ``(..., D), (..., D) -> (...)``.

        Raises:
            TypeError: if an input is not a floating tensor, or the two differ in dtype.
            ValueError: if an input's last dim is not ``D``, the leading shapes do not
                broadcast, or the two differ in device.
        """
        for name, t in (("x", x), ("y", y)):
            _checks.tensor(name, t)
            _checks.dim_size(name, t, -1, self.dim, "dim")
        _checks.same_device_dtype("x", x, "y", y)
        try:
            torch.broadcast_shapes(x.shape[:-1], y.shape[:-1])
        except RuntimeError:
            raise ValueError(
                "x and y must have broadcastable leading shapes (paired rows, or x[:, None] with "
                f"y[None] for all pairs), got shapes {tuple(x.shape)} and {tuple(y.shape)}"
            ) from None
        winv = torch.linalg.inv(self._chol).to(x.device, x.dtype)  # (D, D) L^{-1}
        u, v = x @ winv.T, y @ winv.T  # whitened views
        return self._ratio(self.rho * u, v, self.dim)

    def score_matrix(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r"""The optimal critic on all pairs, :math:`F_{ij} = f^\star(x_i, y_j)`, one matmul.

        The matrix :func:`reptutor.estimators.infonce` takes (positives on the diagonal when
        ``x`` and ``y`` are paired rows). Equal to ``log_density_ratio(x[:, None], y[None])``.

        Args:
            x: ``(N, D)`` first views.
            y: ``(M, D)`` second views.

        Returns:
            ``(N, M)`` scores.

        Shape:
            ``(N, D), (M, D) -> (N, M)``.

        Raises:
            TypeError: if an input is not a floating tensor, or the two differ in dtype.
            ValueError: if an input is not 2-D with ``D`` columns, or the two differ in
                device.
        """
        for name, t in (("x", x), ("y", y)):
            _checks.tensor(name, t, ndim=2)
            _checks.dim_size(name, t, 1, self.dim, "dim")
        _checks.same_device_dtype("x", x, "y", y)
        winv = torch.linalg.inv(self._chol).to(x.device, x.dtype)
        u, v = x @ winv.T, y @ winv.T  # (N, D), (M, D) whitened
        c = self._one_minus_rho2
        # ||v - rho u||^2 = ||v||^2 - 2 rho u.v + rho^2 ||u||^2, expanded so that u.v is a matmul
        uu = (u * u).sum(1)[:, None]  # (N, 1)
        vv = (v * v).sum(1)[None, :]  # (1, M)
        dist = vv - 2.0 * self.rho * (u @ v.T) + self.rho**2 * uu  # (N, M)
        return -0.5 * self.dim * math.log(c) - dist / (2.0 * c) + 0.5 * vv

    def conditional_log_density_ratio(
        self, x: torch.Tensor, y: torch.Tensor, y_block: torch.Tensor, start: int, stop: int
    ) -> torch.Tensor:
        r"""The optimal conditional critic :math:`\log p(y_B\mid x, y_P) - \log p(y_B\mid y_P)`.

        With :math:`r = y_B - A\,y_P` and :math:`t = \rho\,(x_B - A\,x_P)` (class docstring),
        whitened by the Cholesky factor :math:`S = L_S L_S^\top`:

        .. math::

            f^\star_k = -\tfrac{b-a}2\log(1-\rho^2)
              - \frac{\lVert L_S^{-1}(r-t)\rVert^2}{2(1-\rho^2)} + \frac{\lVert L_S^{-1}r\rVert^2}{2}.

        Its mean over :math:`(x, y) \sim p` is :meth:`conditional_mi`; it is the critic that
        makes DEMI's conditional InfoNCE term tight as :math:`K\to\infty`.

        Args:
            x: ``(N, D)`` first views (the anchors).
            y: ``(N, D)`` second views; only the prefix ``[0, start)`` is read.
            y_block: ``(N, M, b - a)`` candidate blocks per row (positive and/or negatives).
            start: :math:`a`.
            stop: :math:`b`.

        Returns:
            ``(N, M)`` scores.

        Shape:
            ``(N, D), (N, D), (N, M, b - a) -> (N, M)``.

        Raises:
            TypeError: if an input is not a floating tensor, or the dtypes differ.
            ValueError: for mismatched shapes or devices, or a malformed block.
        """
        self._check_views("x", x)
        self._check_views("y", y)
        _checks.same_shape("x", x, "y", y)
        _checks.same_device_dtype("x", x, "y", y)
        self._check_block(start, stop)
        _checks.tensor("y_block", y_block, ndim=3)
        _checks.same_device_dtype("x", x, "y_block", y_block)
        _checks.dim_size("y_block", y_block, 0, x.shape[0], "one row per anchor in x")
        _checks.dim_size("y_block", y_block, 2, stop - start, "stop - start")
        coef, _, chol_s_inv = self._block(start, stop, x)
        r = y_block - (y[:, :start] @ coef.T)[:, None, :]  # (N, M, s) residual of y_B given y_P
        t = self.rho * (x[:, start:stop] - x[:, :start] @ coef.T)  # (N, s) its mean given x
        return self._ratio(t[:, None, :] @ chol_s_inv.T, r @ chol_s_inv.T, stop - start)

    # ------------------------------------------------------------------ internals
    def _ratio(self, mean: torch.Tensor, v: torch.Tensor, s: int) -> torch.Tensor:
        """log N(v; mean, c I) - log N(v; 0, I), whitened, broadcast over leading dims."""
        c = self._one_minus_rho2
        d = v - mean
        return -0.5 * s * math.log(c) - (d * d).sum(-1) / (2.0 * c) + 0.5 * (v * v).sum(-1)

    def _block(self, start: int, stop: int, like: torch.Tensor):
        """A = S_BP S_PP^{-1}, chol(S), chol(S)^{-1} for the block, on ``like``'s device/dtype."""
        key = (start, stop)
        if key not in self._cache:
            sig = self.cov_x
            s_pp, s_bp = sig[:start, :start], sig[start:stop, :start]
            s_bb = sig[start:stop, start:stop]
            if start > 0:
                coef = torch.linalg.solve(s_pp, s_bp.T).T  # (s, a) = S_BP S_PP^{-1}
            else:
                coef = torch.zeros(stop - start, 0, dtype=torch.float64)
            schur = s_bb - coef @ s_bp.T  # (s, s) conditional covariance S
            schur = 0.5 * (schur + schur.T)
            chol_s = torch.linalg.cholesky(schur)
            self._cache[key] = (coef, chol_s, torch.linalg.inv(chol_s))
        return tuple(t.to(like.device, like.dtype) for t in self._cache[key])

    def _check_block(self, start: Any, stop: Any) -> None:
        _checks.integer("start", start, minimum=0)
        _checks.integer("stop", stop, minimum=1, maximum=self.dim)
        if not start < stop:
            raise ValueError(f"start must be < stop, got start={start} and stop={stop}")

    def _check_views(self, name: str, t: Any) -> None:
        _checks.tensor(name, t, ndim=2)
        _checks.dim_size(name, t, 1, self.dim, "dim")


def _floating_dtype(dtype: Any) -> None:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
