"""Local Sphinx extension: the claims table and the chapter-budget table.

``{claims-table}`` lists every claim id found in the chapters' sources with its latest measured
value, read from the JSON-lines log that :func:`reptutor.claims.check` appends to while the book
executes its chapters (``REPTUTOR_CLAIMS_LOG``, set here to ``<build dir>/claims.jsonl`` unless
already set). ``{chapter-budgets}`` lists every chapter with its papers, its ci budget and the run
time myst-nb measured when it executed the chapter in this build (or cached it).

Both are placeholders filled in after all documents have been read (and so executed).
"""
from __future__ import annotations

import json
import os
import posixpath
import re
from pathlib import Path

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective

CLAIM_IN_SOURCE = re.compile(
    r"""(?:check|not_reproduced)\(\s*["'](P\d{2}\.[a-z0-9][a-z0-9-]*)["']""")
ROOT = Path(__file__).resolve().parents[2]
KEY = "reptutor_tables"


class ClaimsTableNode(nodes.General, nodes.Element):
    pass


class BudgetTableNode(nodes.General, nodes.Element):
    pass


class _Placeholder(SphinxDirective):
    node_class: type = nodes.Element

    def run(self):
        self.env.metadata[self.env.docname][KEY] = True
        return [self.node_class()]


class ClaimsTable(_Placeholder):
    node_class = ClaimsTableNode


class BudgetTable(_Placeholder):
    node_class = BudgetTableNode


def _chapters(env) -> list[tuple[str, Path]]:
    out = []
    for docname in sorted(env.found_docs):
        path = Path(env.doc2path(docname))
        if path.suffix == ".py" and docname.startswith("notebooks/"):
            out.append((docname, path))
    return out


def _header(path: Path) -> tuple[list[str], int]:
    import jupytext

    meta = jupytext.read(path).metadata.get("reptutor", {})
    return [str(p) for p in meta.get("papers", [])], int(meta.get("budget_s", 60))


def _log_path(app: Sphinx) -> str:
    return os.environ["REPTUTOR_CLAIMS_LOG"]


def _table_with_head(headers: list[str], widths: list[int],
                     classes: list[str]) -> tuple[nodes.table, nodes.tbody]:
    """An empty table with its header row; returns the table and the body to fill."""
    table = nodes.table(classes=classes)
    group = nodes.tgroup(cols=len(headers))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    row = nodes.row()
    for h in headers:
        row += nodes.entry("", nodes.paragraph(text=h))
    head += row
    body = nodes.tbody()
    group += body
    return table, body


def _table(headers: list[str], rows: list[list[nodes.Node | str]],
           classes: list[str] | None = None) -> nodes.table:
    table, body = _table_with_head(headers, [1] * len(headers),
                                   ["colwidths-auto", *(classes or [])])
    for cells in rows:
        row = nodes.row()
        for c in cells:
            para = nodes.paragraph()
            para += c if isinstance(c, nodes.Node) else nodes.Text(str(c))
            row += nodes.entry("", para)
        body += row
    return table


def _doclink(fromdoc: str, docname: str, text: str) -> pending_xref:
    ref = pending_xref(refdoc=fromdoc, reftarget="/" + docname, reftype="doc",
                       refdomain="std", refexplicit=True, refwarn=True)
    ref += nodes.inline(text=text)
    return ref


class FillTables(SphinxPostTransform):
    default_priority = 8  # before references are resolved

    def run(self, **kwargs) -> None:
        env = self.env
        docname = env.docname
        chapters = _chapters(env)
        for node in list(self.document.findall(ClaimsTableNode)):
            node.replace_self(self._claims(docname, chapters))  # a list of nodes
        for node in list(self.document.findall(BudgetTableNode)):
            node.replace_self(self._budgets(docname, chapters))

    def _claims(self, fromdoc, chapters):
        latest: dict[str, dict] = {}
        log = _log_path(self.app)
        if os.path.exists(log):
            with open(log, encoding="utf-8") as fh:
                for line in fh:
                    rec = json.loads(line)
                    latest[rec["claim_id"]] = rec
        parts = _part_captions()
        groups: dict[str, list[tuple[str, str, list[tuple[str, dict | None, dict | None]]]]] = {}
        counts = {"reproduction": 0, "theorem": 0, "observation": 0, "not reproduced": 0,
                  "not executed": 0}
        for docname, path in chapters:
            ids = list(dict.fromkeys(CLAIM_IN_SOURCE.findall(path.read_text(encoding="utf-8"))))
            cal = _calibration(ids)
            rows = []
            for cid in ids:
                rec, c = latest.get(cid), cal.get(cid)
                kind = (rec or c or {}).get("kind")
                status = (rec or {}).get("status") or ("not reproduced" if c and c.get(
                    "status") == "not reproduced" else None)
                if status == "not reproduced":
                    counts["not reproduced"] += 1
                elif rec is None:
                    counts["not executed"] += 1
                elif kind in counts:
                    counts[kind] += 1
                rows.append((cid, rec, c))
            part = parts.get(docname, "Other chapters")
            groups.setdefault(part, []).append((docname, env_title(self.env, docname), rows))
        if not groups:
            return [nodes.paragraph(text="No chapter checks a claim yet.")]
        out: list[nodes.Node] = []
        summary = (f"{counts['reproduction']} reproductions, {counts['theorem']} theorems, "
                   f"{counts['observation']} observations, {counts['not reproduced']} not "
                   "reproduced")
        if counts["not executed"]:
            summary += f" ({counts['not executed']} not executed in this build)"
        out.append(nodes.paragraph("", "", nodes.strong(text=summary + ".")))
        order = {"reproduction": 0, "theorem": 1, "observation": 2}
        for part, chapter_list in groups.items():
            section = nodes.rubric(text=part)
            out.append(section)
            for docname, title, rows in chapter_list:
                para = nodes.paragraph()
                para += _doclink(fromdoc, docname, title)
                out.append(para)
                rows.sort(key=lambda r: (r[2] is not None and r[2].get("status") == "not reproduced",
                                         order.get(((r[1] or r[2] or {}).get("kind")), 3)))
                out.append(_claims_table([_claim_cells(cid, rec, c) for cid, rec, c in rows]))
        return out

    def _budgets(self, fromdoc, chapters):
        from myst_nb.sphinx_ import NbMetadataCollector

        data = NbMetadataCollector.get_doc_data(self.env)
        cpu: dict[str, float] = {}  # chapter source -> its kernel's CPU time at its last claim
        log = _log_path(self.app)
        if os.path.exists(log):
            with open(log, encoding="utf-8") as fh:
                for line in fh:
                    rec = json.loads(line)
                    for _, path in chapters:
                        if rec["claim_id"] in _ids_of(path):
                            cpu[str(path)] = max(cpu.get(str(path), 0.0), rec.get("cpu_s") or 0.0)
        rows = []
        full_runs = _full_runs()
        for docname, path in chapters:
            papers, budget = _header(path)
            exec_data = data.get(docname, {}).get("exec_data") or {}
            runtime = exec_data.get("runtime")
            method = exec_data.get("method", "not executed")
            ok = exec_data.get("succeeded")
            c = cpu.get(str(path))
            rows.append([
                _doclink(fromdoc, docname, env_title(self.env, docname)),
                ", ".join(papers),
                f"{budget}",
                "-" if c is None else f"{c:.1f}" + (" ⚠ over budget" if c > budget else ""),
                "-" if runtime is None else f"{runtime:.1f}",
                f"{method}" + ("" if ok is None else (" ✅" if ok else " ❌")),
                _full_scale(full_runs.get(path.relative_to(ROOT).as_posix()), path),
            ])
        return _table(["chapter", "papers", "CPU budget (s, ci)", "CPU time to its last claim (s)",
                       "wall time in this build (s)", "execution",
                       "full scale (GPU): wall time, where, when"], rows)


def _full_runs() -> dict[str, dict]:
    """reptutor/calibration/full_runs.json: the full configurations run on a GPU."""
    path = ROOT / "reptutor" / "calibration" / "full_runs.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8")).get("runs", {})


def _full_scale(record: dict | None, path: Path) -> str:
    """The full-scale cell of a chapter's row: its GPU run, or that there has been none."""
    if not record:
        return "not yet run on a GPU"
    from reptutor.claims import code_digest

    text = f"{record['wall_s']:.0f} s on {record['device']} ({record['date']})"
    if record.get("code_sha256") != code_digest(path):
        text += ", code changed since"
    return text


def env_title(env, docname: str) -> str:
    title = env.titles.get(docname)
    return title.astext() if title is not None else posixpath.basename(docname)


def _ids_of(path: Path) -> set[str]:
    return set(CLAIM_IN_SOURCE.findall(path.read_text(encoding="utf-8")))


def _part_captions() -> dict[str, str]:
    """docname -> the caption of its part in _toc.yml."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    out: dict[str, str] = {}

    def walk(entries, caption):
        for e in entries or []:
            if "file" in e:
                out[e["file"]] = caption
            walk(e.get("sections"), caption)
            walk(e.get("chapters"), caption)

    for part in toc.get("parts", []):
        walk(part.get("chapters"), part.get("caption", ""))
    return out


def _calibration(ids: list[str]) -> dict[str, dict]:
    """claim id -> its entry in the committed calibration record (reptutor/calibration/)."""
    out: dict[str, dict] = {}
    for paper in sorted({cid.split(".")[0] for cid in ids}):
        path = ROOT / "reptutor" / "calibration" / f"{paper}.json"
        if path.exists():
            out.update(json.loads(path.read_text(encoding="utf-8"))["claims"])
    return out


CLAIM_HEADERS = ["status", "claim", "kind", "measured", "null", "bound",
                 "margin, seeds 0–4 / 5–9"]
#: Column widths in percent of the page's column (the table has a fixed layout).
CLAIM_WIDTHS = [14, 24, 13, 11, 11, 14, 13]


def _claim_cells(cid: str, rec: dict | None, c: dict | None) -> dict:
    """One claim: its status and the short cells of its first row, and its statement row."""
    src = rec or c or {}
    status = src.get("status")
    if c is not None and c.get("status") == "not reproduced":
        status = "not reproduced"
    if rec is None:
        status = "not reproduced" if status == "not reproduced" else "not executed"
    null, null_text = "", ""
    if rec is not None and rec.get("null") is not None:
        null, null_text = _num(rec["null"]), f"Null: {rec['null_name']}."
    elif c is not None and c.get("null_name"):
        null_text = f"Null: {c['null_name']}."
    elif src.get("no_null"):
        null, null_text = "none", f"No null: {src['no_null']}."
    notes = [str(src.get("statement", ""))]
    if status == "not reproduced":
        bound, margin = "see below", ""
        notes.append(f"Paper: {src.get('expected_text')}. Why not here: {src.get('why')}.")
    else:
        bound = _bound(src) if src else ""
        margin = ("" if c is None or c.get("margin_calibration") is None else
                  f"{c['margin_calibration']:.3g} / {c['margin_confirmation']:.3g}")
    if null_text:
        notes.append(null_text)
    return {"status": status or "", "cells": [
        nodes.literal(text=cid), str(src.get("kind", "")),
        _num(rec["measured"]) if rec else "", null, bound, margin], "notes": notes}


def _claims_table(claims: list[dict]) -> nodes.table:
    """Two rows per claim: status, id, kind and the numbers; then the statement, full width.

    The first column is the status, as a coloured label; short cells never wrap inside a
    number, and the statement, the null and (not reproduced) the paper's value and the reason
    take the full width of the page below them, so the table fits the column.
    """
    table, body = _table_with_head(CLAIM_HEADERS, CLAIM_WIDTHS,
                                   ["reptutor-claims", "colwidths-given"])
    for claim in claims:
        slug = claim["status"].replace(" ", "-") or "unknown"
        row = nodes.row(classes=["claim-values", f"claim-{slug}"])
        badge = nodes.inline(text=claim["status"], classes=["claim-status", f"claim-{slug}"])
        row += nodes.entry("", nodes.paragraph("", "", badge))
        for i, cell in enumerate(claim["cells"]):
            para = nodes.paragraph()
            para += cell if isinstance(cell, nodes.Node) else nodes.Text(str(cell))
            row += nodes.entry("", para, classes=["claim-number"] if i >= 2 else [])
        body += row
        notes = nodes.row(classes=["claim-statement", f"claim-{slug}"])
        entry = nodes.entry("", morecols=len(CLAIM_HEADERS) - 1)
        for k, text in enumerate(claim["notes"]):
            entry += nodes.paragraph(text=text, classes=["claim-note"] if k else [])
        notes += entry
        body += notes
    return table


def _num(x) -> str:
    return "" if x is None else f"{x:.4g}"


def _bound(rec: dict) -> str:
    if rec.get("expected") is not None:
        return f"{rec['expected']:.4g} ± {rec['tol']:.3g}"
    lo = "-∞" if rec.get("lower") is None else f"{rec['lower']:.4g}"
    hi = "+∞" if rec.get("upper") is None else f"{rec['upper']:.4g}"
    return f"[{lo}, {hi}]" + (f" (slack {rec['tol']:.3g})" if rec.get("tol") else "")


def _set_log(app: Sphinx, config) -> None:
    # The chapters' kernels inherit this process's environment, so their checks land here.
    os.environ.setdefault(
        "REPTUTOR_CLAIMS_LOG", str(Path(app.outdir).parent / "claims.jsonl")
    )


def _tables_to_update(app: Sphinx, env) -> list[str]:
    # Pages with a table depend on every chapter: rewrite them on every build.
    return [d for d, meta in env.metadata.items() if meta.get(KEY)]


def _skip_namedtuple_fields(app, what, name, obj, skip, options):
    # NamedTuple fields are documented in the class's Attributes section; autodoc would add
    # them a second time as "Alias for field number N" (a duplicate-object warning).
    doc = getattr(obj, "__doc__", None) or ""
    return True if doc.startswith("Alias for field number") else None


def _add_css(app: Sphinx, config) -> None:
    static = str(Path(__file__).resolve().parent / "static")
    if static not in config.html_static_path:
        config.html_static_path.append(static)


def setup(app: Sphinx):
    app.connect("config-inited", _add_css)
    app.add_css_file("reptutor-tables.css")
    app.connect("autodoc-skip-member", _skip_namedtuple_fields)
    app.add_node(ClaimsTableNode)
    app.add_node(BudgetTableNode)
    app.add_directive("claims-table", ClaimsTable)
    app.add_directive("chapter-budgets", BudgetTable)
    app.add_post_transform(FillTables)
    app.connect("config-inited", _set_log)
    app.connect("env-updated", _tables_to_update)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
