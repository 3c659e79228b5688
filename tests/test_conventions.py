"""Conventions enforced, not only written: the public API against ``book/notation.md``.

* Argument names: the page's table *Names the library does not use* is read from the page itself
  and every public function, class and method of ``reptutor`` is checked against it, so adding a
  row to the page adds a check; names are snake_case.
* ``make_*`` generators take ``(n, generator, *, ...)``; a ``generator`` argument is always
  accepted by keyword.
* Term weights are ``<term>_weight``, ``<term>`` a field of the loss's ``*Terms`` NamedTuple.
* One multi-view layout, ``(V, N, D)``: no docstring or comment describes views as ``(N, V, D)``,
  and a ``make_multiview`` batch goes into ``cmc_loss`` and ``supcon_loss`` unchanged.

Each checker is also run on a deliberately bad signature (the meta-tests at the end), so a check
that silently finds nothing fails.
"""
from __future__ import annotations

import importlib
import inspect
import re
import typing
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

import reptutor

ROOT = Path(__file__).resolve().parents[1]
NOTATION = ROOT / "book" / "notation.md"
SUBPACKAGES = ("losses", "estimators", "solvers", "metrics", "data", "models")
MODULES = ("runtime", "train", "claims", "plot")  # single modules with an __all__


# ------------------------------------------------------------------------------- the page
def forbidden_rules(text: str | None = None) -> list[tuple[str, re.Pattern, str, str]]:
    """Rows of the page's table: (shown name, pattern, scope, what to use instead)."""
    text = NOTATION.read_text() if text is None else text
    section = text.split("### Names the library does not use", 1)[1].split("\n## ", 1)[0]
    rules = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        names, scope, instead = cells
        for shown in re.findall(r"`([^`]+)`", names):
            pattern = re.escape(shown).replace(re.escape("<x>"), "[a-z][a-z0-9_]*")
            rules.append((shown, re.compile(f"^{pattern}$"), scope, instead))
    return rules


# ------------------------------------------------------------------------------- the API
def public_callables() -> Iterator[tuple[str, Callable]]:
    """(qualified name, object) for every public function, class and public method."""
    modules = [(sub, importlib.import_module(f"reptutor.{sub}")) for sub in SUBPACKAGES]
    modules += [(name, importlib.import_module(f"reptutor.{name}")) for name in MODULES]
    for prefix, mod in modules:
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            if not callable(obj) or (inspect.isclass(obj) and issubclass(obj, tuple)):
                continue  # constants, NamedTuple results (fields, not arguments)
            yield f"{prefix}.{name}", obj
            if inspect.isclass(obj):
                for meth_name, meth in vars(obj).items():
                    if meth_name.startswith("_") and meth_name != "__init__":
                        continue
                    if inspect.isfunction(meth) and meth.__module__.startswith("reptutor"):
                        yield f"{prefix}.{name}.{meth_name}", meth


def parameters(obj: Callable) -> list[inspect.Parameter]:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return []
    return [p for p in sig.parameters.values()
            if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def name_violations(api: list[tuple[str, Callable]],
                    rules: list[tuple[str, re.Pattern, str, str]]) -> list[str]:
    bad = []
    for qualname, obj in api:
        scope = qualname.split(".")[0]
        for p in parameters(obj):
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", p.name):
                bad.append(f"{qualname}({p.name}): not snake_case")
            for shown, pattern, where, instead in rules:
                if where in ("everywhere", scope) and pattern.match(p.name):
                    bad.append(f"{qualname}({p.name}): book/notation.md forbids `{shown}` "
                               f"({where}); use {instead}")
    return bad


def make_violations(api: list[tuple[str, Callable]]) -> list[str]:
    bad = []
    keyword_only = inspect.Parameter.KEYWORD_ONLY
    for qualname, obj in api:
        ps = parameters(obj)
        if any(p.name == "generator" and p.kind == p.POSITIONAL_ONLY for p in ps):
            bad.append(f"{qualname}: generator must be accepted by keyword")
        if not qualname.split(".")[-1].startswith("make_") or inspect.isclass(obj):
            continue
        head = [(p.name, p.kind) for p in ps[:2]]
        if head != [("n", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                    ("generator", inspect.Parameter.POSITIONAL_OR_KEYWORD)]:
            bad.append(f"{qualname}: must start (n, generator, *, ...), got {head}")
        rest = [p.name for p in ps[2:] if p.kind != keyword_only]
        if rest:
            bad.append(f"{qualname}: arguments after (n, generator) must be keyword-only, got {rest}")
    return bad


def _term_names(module) -> set[str]:
    """Names of the terms of every ``*Terms`` NamedTuple of ``module``: each field and its first word."""
    names = set()
    for obj in vars(module).values():
        if inspect.isclass(obj) and issubclass(obj, tuple) and obj.__name__.endswith("Terms"):
            for field in getattr(obj, "_fields", ()):
                if field != "loss":
                    names |= {field, field.split("_")[0]}
    return names


def weight_violations(api: list[tuple[str, Callable]]) -> list[str]:
    bad = []
    for qualname, obj in api:
        if not qualname.startswith("losses."):
            continue
        module = inspect.getmodule(obj)
        terms = _term_names(module)
        for p in parameters(obj):
            if p.name.endswith("_weight"):
                term = p.name[: -len("_weight")]
                if term not in terms:
                    bad.append(f"{qualname}({p.name}): `{term}` is not a term of "
                               f"{module.__name__}'s *Terms ({sorted(terms)})")
    return bad


LAYOUT_NVD = re.compile(r"\(\s*N\s*,\s*V\s*[,)]")


def layout_violations(paths: list[Path]) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{i}: {line.strip()}" for path in paths
            for i, line in enumerate(path.read_text().splitlines(), 1) if LAYOUT_NVD.search(line)]


API = list(public_callables())


# ------------------------------------------------------------------------------- the tests
def test_the_page_has_the_table():
    rules = forbidden_rules()
    shown = {r[0] for r in rules}
    assert {"n_<x>", "gen", "tau", "lambda_<x>", "alpha", "inv_weight"} <= shown, shown
    assert all(r[2] in ("everywhere", *SUBPACKAGES) for r in rules), "unknown scope in the table"


def test_public_argument_names_follow_the_notation_page():
    bad = name_violations(API, forbidden_rules())
    assert not bad, "\n".join(bad)


def test_make_generators_take_n_then_generator():
    bad = make_violations(API)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name", sorted(n for n, _ in API if n.startswith("data.make_")))
def test_make_generators_accept_the_generator_by_position_and_keyword(name):
    make = dict(API)[name]
    by_position = make(4, torch.Generator().manual_seed(0))
    by_keyword = make(4, generator=torch.Generator().manual_seed(0))
    for a, b in zip(by_position, by_keyword):
        assert torch.equal(a, b), name


def test_term_weights_are_named_after_their_terms():
    bad = weight_violations(API)
    assert not bad, "\n".join(bad)
    weights = {p.name for n, o in API if n.startswith("losses.") for p in parameters(o)
               if p.name.endswith("_weight")}
    assert {"invariance_weight", "redundancy_weight", "global_weight", "prior_weight"} <= weights


def test_no_docstring_or_comment_describes_views_as_n_v_d():
    # notation.md: views are stacked (V, N, D); the library used (N, V, D) in supcon_loss
    bad = layout_violations(sorted((ROOT / "reptutor").rglob("*.py")))
    assert not bad, "views are (V, N, D) (book/notation.md):\n" + "\n".join(bad)


def test_multiview_functions_share_one_layout():
    from reptutor.data import make_multiview
    from reptutor.losses import cmc_terms, supcon_loss

    data = make_multiview(12, torch.Generator().manual_seed(0), num_views=3, num_classes=4)
    views = data.views  # (V, N, D_obs) = (3, 12, 16)
    assert views.shape[:2] == (3, 12)
    per_view = supcon_loss(views, data.labels, reduction="none")  # labels follow dim 1
    assert per_view.shape == (3, 12)
    terms = cmc_terms(views, reduction="none")
    assert terms.pair_losses.shape == (3, 12) and terms.loss.shape == (12,)
    # permuting the samples (dim 1) permutes both per-sample outputs the same way
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(supcon_loss(views[:, perm], data.labels[perm], reduction="none"),
                               per_view[:, perm])
    torch.testing.assert_close(cmc_terms(views[:, perm], reduction="none").loss, terms.loss[perm])


# ------------------------------------------------------------------------------- meta-tests
def _bad_api():
    def make_bad(n, *, gen=None, n_views=2):  # noqa: ANN001 - a deliberately bad signature
        return n

    def loss_bad(z, labels, *, tau=0.1, lambda_offdiag=0.1, alpha=1.0, novel_weight=1.0):
        return z

    return [("data.make_bad", make_bad), ("losses.loss_bad", loss_bad)]


def test_the_checkers_can_fail():
    names = "\n".join(name_violations(_bad_api(), forbidden_rules()))
    for arg in ("gen", "n_views", "tau", "lambda_offdiag", "alpha"):
        assert f"({arg})" in names, arg
    assert "(novel_weight)" not in names  # a *_weight is the term-weight checker's business
    makes = make_violations(_bad_api())
    assert any("must start (n, generator" in m for m in makes), makes
    weights = weight_violations(_bad_api())
    assert any("novel_weight" in w for w in weights), weights
    text = "| name | scope | use instead |\n|---|---|---|\n| `foo_<x>` | losses | bar |\n"
    rules = forbidden_rules("### Names the library does not use\n\n" + text)
    assert [(r[0], r[2]) for r in rules] == [("foo_<x>", "losses")]
    assert rules[0][1].match("foo_bar") and not rules[0][1].match("foo")


def test_the_layout_scan_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('"""z: embeddings, (N, V, D) for V views."""\nx = 1  # (V, N, D) is fine\n')
    found = [line for line in bad.read_text().splitlines() if LAYOUT_NVD.search(line)]
    assert found == ['"""z: embeddings, (N, V, D) for V views."""']


def test_the_api_walk_sees_classes_and_methods():
    names = {n for n, _ in API}
    assert {"losses.supcon_loss", "losses.SupConLoss.__init__", "data.make_multiview",
            "data.CorrelatedGaussian.sample", "runtime.glue"} <= names
    assert typing.get_type_hints(reptutor.runtime.glue)  # a real function, not a stub
