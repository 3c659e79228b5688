"""Generate each chapter's Colab notebook (its committed ``.ipynb`` twin) from its ``.py`` source.

    python tools/make_twins.py                  # regenerate every twin (`make twins`)
    python tools/make_twins.py --check          # list stale twins, exit 1 if any (CI)
    python tools/make_twins.py notebooks/01_information/01_infonce_demi.py   # one chapter
    python tools/make_twins.py --fix-sources [CHAPTER.py ...]   # rewrite the .py install cells

The direction is one-way: the jupytext ``py:percent`` source is the only file people edit, and
the twin is derived from it. Nothing pairs the two (the sources declare no jupytext ``formats``),
so ``jupytext --sync`` can never copy a twin back into a source.

What the twin is, and why (tests/test_twins.py checks it):

* **Code cells are the source's, unchanged** (nbval executes the twins, and the claims in them are
  the regression test), committed without outputs.
* **Markdown cells are plain Markdown** that Colab, Jupyter and GitHub render: the book's MyST
  constructs are turned into what they mean.

  - ``{prf:theorem}``, ``{prf:definition}``, ... boxes: a bold title (``**Theorem 1** (title).``)
    and the box's text with its math (``$$`` blocks kept); a proof ends with a square.
  - ``{cite}`key``` : ``[Author et al., year]``, linked to the book's bibliography (the entry of
    ``book/references.bib`` at the pinned version while the book has no published address); the
    ``{bibliography}`` of the chapter becomes the list of the entries it cites.
  - ``{glue:text}`key:fmt``` : the key in braces, in code font (```{key}```, the paper id
    dropped), and a note at the end of its section saying which code cell computes it (a value,
    a claim's measurement or its null, or a range from the committed calibration record): the
    numbers exist only once the notebook has run.
  - ``{prf:ref}``, ``{ref}``, ``{numref}``: the target's name (``Theorem 2``, ``Exercise 3``, a
    section title) as text; ``{doc}``: a link (another chapter opens in Colab).
  - exercises: ``#### Exercise 1`` headings (Colab lists and folds them); solutions folded in
    ``<details>`` (a ``{solution}`` directive, or the cells tagged ``solution`` between
    ``{solution-start}`` and ``{solution-end}``, whose code cells stay code cells, announced by
    a line saying they belong to the solution).
  - the book's MathJax macros (``_config.yml``) are expanded, since Colab does not know them.
  - admonitions: block quotes, or ``<details>`` for dropdowns.

  A MyST construct without a conversion here is an error, so a new one is noticed.
* **Notebook metadata for Colab**: a GPU accelerator, Colab provenance, the kernel, and the
  chapter's ``reptutor:`` block. A generated note after the title says where the notebook comes
  from, what the install cell does and at which scale the chapter will run.

The install cell (tagged ``install``) installs the version pinned in ``pyproject.toml``
``[tool.reptutor]`` (:func:`install_cell_source`); ``--fix-sources`` writes it into the chapters'
sources (a change to it does not stale a calibration record: ``claims.code_digest`` leaves the
install cell out) and removes any jupytext pairing from their headers.
"""
from __future__ import annotations

import argparse
import ast
import functools
import hashlib
import json
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIB = ROOT / "book" / "references.bib"
NOTEBOOKS = ROOT / "notebooks"
INSTALL_TAG = "install"
SOLUTION_TAG = "solution"
#: what must never reach a twin's markdown: a MyST directive, role or colon fence
RAW_MARKERS = ("```{", "{cite}", "{cite:", "{glue", "{prf:", "{doc}", "{ref}", "{numref}", ":::")
#: jupytext's own cell metadata, meaningless in a notebook
JUPYTEXT_KEYS = {"lines_to_next_cell", "lines_to_end_of_cell_marker", "cell_marker", "region_name"}
GLUE_OPEN, GLUE_CLOSE = "\ue000", "\ue001"  # a glued key while its cell is converted
#: import names whose distribution is named differently on PyPI
DIST_OF_MODULE = {"sklearn": "scikit-learn", "PIL": "pillow", "yaml": "pyyaml",
                  "cv2": "opencv-python"}


# ------------------------------------------------------------------------------------------
# The one place for the repository and the version: pyproject.toml [tool.reptutor]


def project_config() -> dict:
    """``[tool.reptutor]`` of ``pyproject.toml``: ``repository``, ``ref``, ``book_url``."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    cfg = dict(data.get("tool", {}).get("reptutor", {}))
    for key in ("repository", "ref"):
        if not cfg.get(key):
            raise SystemExit(f"pyproject.toml [tool.reptutor] needs `{key}`")
    cfg["repository"] = cfg["repository"].rstrip("/")
    cfg.setdefault("book_url", "")
    cfg["version"] = data["project"]["version"]
    cfg["dependencies"] = list(data["project"]["dependencies"])
    return cfg


def _dist_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[\s]", requirement, maxsplit=1)[0].strip().lower()


def install_packages(cfg: dict | None = None) -> list[str]:
    """What the install cell installs besides reptutor: its dependencies, torch left out."""
    cfg = cfg or project_config()
    return [r for r in cfg["dependencies"] if _dist_name(r) != "torch"]


def install_cell_source(cfg: dict | None = None) -> str:
    """The install cell of every chapter (tagged ``install``), from ``[tool.reptutor]``.

    On Colab it installs reptutor at the pinned ref with ``--no-deps`` (so pip cannot replace
    Colab's torch), then reptutor's other dependencies, which Colab mostly has already.
    """
    cfg = cfg or project_config()
    url = f"reptutor @ git+{cfg['repository']}@{cfg['ref']}"
    lines = [
        f"# On Colab: install reptutor {cfg['ref']} (pinned in pyproject.toml [tool.reptutor]) "
        "without",
        "# its dependencies, so that Colab's own torch is kept; then its other dependencies (what",
        "# the chapter imports besides torch), which Colab mostly has already.",
        "import sys, subprocess",
        'if "google.colab" in sys.modules:',
        '    pip = [sys.executable, "-m", "pip", "install", "-q"]',
        f'    package = "{url}"',
        '    subprocess.run(pip + ["--no-deps", package], check=True)',
    ]
    head = "    subprocess.run(pip + ["
    packages = [f'"{p}"' for p in install_packages(cfg)]
    line = head
    for i, p in enumerate(packages):
        piece = p + (", " if i < len(packages) - 1 else "], check=True)")
        if len(line) + len(piece.rstrip()) > 100 and line.strip() != head.strip():
            lines.append(line.rstrip())
            line = " " * len(head)
        line += piece
    lines.append(line)
    return "\n".join(lines)


def colab_url(cfg: dict, rel: str) -> str:
    """The Colab address of a twin (``rel``: its path in the repository)."""
    repo = re.sub(r"^https://github\.com/", "", cfg["repository"])
    return f"https://colab.research.google.com/github/{repo}/blob/{cfg['ref']}/{rel}"


def blob_url(cfg: dict, rel: str) -> str:
    return f"{cfg['repository']}/blob/{cfg['ref']}/{rel}"


# ------------------------------------------------------------------------------------------
# Bibliography


class Bibliography:
    """``book/references.bib``: author-year labels, links, and formatted entries (pybtex)."""

    def __init__(self, cfg: dict):
        from pybtex.database import parse_file

        self.cfg = cfg
        self.db = parse_file(str(BIB))
        text = BIB.read_text(encoding="utf-8").splitlines()
        self.line = {}
        for i, line in enumerate(text, start=1):
            m = re.match(r"^@(?!comment)\w+\{\s*([^,\s]+)\s*,", line, re.I)
            if m:
                self.line[m.group(1)] = i

    def entry(self, key: str):
        if key not in self.db.entries:
            raise ValueError(f"{{cite}} key {key!r} is not in book/references.bib")
        return self.db.entries[key]

    def label(self, key: str) -> tuple[str, str]:
        """(authors, year) as the book prints them: ``Sordoni et al.``, ``2021``."""
        e = self.entry(key)
        persons = e.persons.get("author") or e.persons.get("editor") or []

        def last(p) -> str:
            name = " ".join(p.prelast_names + p.last_names)
            return _latex_to_text(name)

        if not persons:
            who = _latex_to_text(e.fields.get("title", key))
        elif len(persons) == 1:
            who = last(persons[0])
        elif len(persons) == 2:
            who = f"{last(persons[0])} and {last(persons[1])}"
        else:
            who = f"{last(persons[0])} et al."
        return who, e.fields.get("year", "n.d.")

    def link(self, key: str) -> str:
        if self.cfg.get("book_url"):
            return self.cfg["book_url"].rstrip("/") + "/book/bibliography.html"
        return blob_url(self.cfg, "book/references.bib") + f"#L{self.line.get(key, 1)}"

    def references(self, keys: list[str]) -> str:
        """The entries ``keys`` as a Markdown list, in the book's order (plain style, sorted)."""
        from pybtex.plugin import find_plugin

        style = find_plugin("pybtex.style.formatting", "plain")()
        backend = find_plugin("pybtex.backends", "markdown")()
        entries = style.format_entries([self.entry(k) for k in keys])
        out = []
        for e in entries:
            text = " ".join(e.text.render(backend).split())
            # pybtex escapes every punctuation mark; Markdown needs it only for * _ [ ] ` $
            text = re.sub(r"\\([^*_\[\]`$\\])", r"\1", text)
            out.append(f"* {text}")
        return "\n".join(out)


def _latex_to_text(s: str) -> str:
    try:
        import latexcodec  # noqa: F401  (registers the "ulatex" codec)

        import codecs

        s = codecs.decode(s, "ulatex")
    except Exception:  # noqa: BLE001 - a name that is not LaTeX stays as it is
        pass
    return s.replace("{", "").replace("}", "")


# ------------------------------------------------------------------------------------------
# MyST blocks

FENCE_OPEN = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,}|:{3,})\s*(?P<info>.*)$")
DIRECTIVE_INFO = re.compile(r"^\{(?P<name>[\w:.-]+)\}\s*(?P<arg>.*)$")
TARGET = re.compile(r"^\s*\(([^()\s]+)\)=\s*$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
ROLE_OR_CODE = re.compile(
    r"\{(?P<role>[\w:.-]+)\}`(?P<content>[^`]*)`|(?P<code>`+)(?:.*?)(?P=code)", re.S)
EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)
PRF_TYPES = {"theorem", "lemma", "definition", "proposition", "corollary", "remark", "conjecture",
             "example", "property", "observation", "algorithm", "criterion", "assumption",
             "axiom", "notation", "proof"}
ADMONITIONS = {"note", "tip", "warning", "important", "caution", "attention", "danger", "error",
               "hint", "seealso", "admonition", "margin", "sidebar", "dropdown", "topic"}


@dataclass
class Block:
    """A parsed piece of a markdown cell: text lines, or a directive with options and body."""

    kind: str  # "text", "fence" (ordinary code block, kept verbatim) or "directive"
    lines: list[str] = field(default_factory=list)
    name: str = ""
    arg: str = ""
    options: dict = field(default_factory=dict)
    body: str = ""


def parse_blocks(text: str) -> list[Block]:
    """Split Markdown into text runs, verbatim code fences and MyST directives (not nested)."""
    lines = text.split("\n")
    out: list[Block] = []
    i = 0
    run: list[str] = []

    def flush():
        if run:
            out.append(Block("text", list(run)))
            run.clear()

    while i < len(lines):
        m = FENCE_OPEN.match(lines[i])
        if not m:
            run.append(lines[i])
            i += 1
            continue
        fence, info = m.group("fence"), m.group("info").strip()
        d = DIRECTIVE_INFO.match(info)
        char, n = fence[0], len(fence)
        if char == ":" and not d:
            raise ValueError(f"a colon fence that is not a directive: {lines[i]!r}")
        j = i + 1
        while j < len(lines):
            c = lines[j].strip()
            if c and set(c) == {char} and len(c) >= n:
                break
            j += 1
        if j == len(lines):
            raise ValueError(f"unclosed fence opened by {lines[i]!r}")
        body = [ln[len(m.group("indent")):] if ln.startswith(m.group("indent")) else ln
                for ln in lines[i + 1:j]]
        flush()
        if not d:
            out.append(Block("fence", lines[i:j + 1]))
        else:
            options: dict = {}
            k = 0
            if body and body[0].strip() == "---":  # YAML options block
                import yaml

                end = body.index("---", 1)
                options = yaml.safe_load("\n".join(body[1:end])) or {}
                k = end + 1
            else:
                while k < len(body) and (om := re.match(r"^:([\w-]+):\s*(.*)$", body[k])):
                    options[om.group(1)] = om.group(2).strip()
                    k += 1
            out.append(Block("directive", name=d.group("name"), arg=d.group("arg").strip(),
                             options=options, body="\n".join(body[k:]).strip("\n")))
        i = j + 1
    flush()
    return out


# ------------------------------------------------------------------------------------------
# Glue keys: which code cell computes each


@dataclass
class Producer:
    cell: int
    what: str  # "value", "claim", "null", "calibration"
    pattern: re.Pattern


_CALIBRATION_SUFFIXES = ("seeds-0-4", "seeds-5-9", "null-range", "margin")
_KEYLIKE = re.compile(r"^P\d{2}\.[a-z0-9][a-z0-9.-]*$")


def _arg_patterns(node: ast.AST, cell_strings: list[str]) -> list[str]:
    """Regexes for the key a call's first argument can take (a literal, an f-string, a name)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [re.escape(node.value)]
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(re.escape(str(v.value)))
            else:
                parts.append(r"[A-Za-z0-9_.+-]+")
        return ["".join(parts)]
    # a variable (a loop over ids): every key-like string of the cell may be it
    return [re.escape(s) for s in cell_strings if _KEYLIKE.match(s)]


def producers(code_cells: list[tuple[int, str]]) -> list[Producer]:
    out: list[Producer] = []
    for index, source in code_cells:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        strings = [n.value for n in ast.walk(tree)
                   if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name not in ("glue", "check", "not_reproduced", "glue_calibration"):
                continue
            for pat in _arg_patterns(node.args[0], strings):
                if name == "glue":
                    out.append(Producer(index, "value", re.compile(pat + r"$")))
                elif name in ("check", "not_reproduced"):
                    out.append(Producer(index, "claim", re.compile(pat + r"$")))
                    out.append(Producer(index, "null", re.compile(pat + r"\.null$")))
                else:
                    suffixes = "|".join(re.escape(s) for s in _CALIBRATION_SUFFIXES)
                    out.append(Producer(index, "calibration",
                                        re.compile(pat + rf"\.(?:{suffixes})$")))
    return out


# ------------------------------------------------------------------------------------------
# One chapter


class Chapter:
    def __init__(self, path: Path, cfg: dict, bib: Bibliography):
        import jupytext

        self.path = path
        self.rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
        self.cfg = cfg
        self.bib = bib
        self.nb = jupytext.read(path)
        self.cells = self.nb.cells
        self.cited: list[str] = []
        self.labels: dict[str, str] = {}  # label -> its name in the text ("Theorem 2")
        self.exercise_of: dict[str, str] = {}  # exercise label -> "Exercise 3"
        self.headings: dict[int, str] = {}  # cell index -> last heading at or before it
        self.claims_cells = {i for i, c in enumerate(self.cells) if c.cell_type == "code"
                             and re.search(r"claims\.(check|not_reproduced)\(", c.source)}
        self.code = [i for i, c in enumerate(self.cells) if c.cell_type == "code"]
        self.producers = producers([(i, self.cells[i].source) for i in self.code])
        self._scan()

    # first pass: numbers of boxes and exercises, targets, headings
    def _scan(self) -> None:
        counters: dict[str, int] = {}
        heading = ""
        pending_targets: list[str] = []
        for index, cell in enumerate(self.cells):
            if cell.cell_type == "markdown":
                for block in parse_blocks(cell.source):
                    if block.kind == "text":
                        for line in block.lines:
                            t = TARGET.match(line)
                            if t:
                                pending_targets.append(t.group(1))
                                continue
                            h = HEADING.match(line)
                            if h:
                                heading = self.inline(h.group(2), register=False)
                                for label in pending_targets:
                                    self.labels[label] = heading
                                pending_targets.clear()
                    elif block.kind == "directive":
                        self._number(block, counters)
            self.headings[index] = heading

    def _number(self, block: Block, counters: dict[str, int]) -> None:
        name = block.name
        kind = name.split(":", 1)[1] if name.startswith("prf:") else name
        if kind in PRF_TYPES and kind != "proof" or kind == "exercise":
            counters[kind] = counters.get(kind, 0) + 1
            title = f"{kind.capitalize()} {counters[kind]}"
            label = block.options.get("label")
            if label:
                self.labels[label] = title
                if kind == "exercise":
                    self.exercise_of[label] = title
        for inner in parse_blocks(block.body) if block.body else []:
            if inner.kind == "directive":
                self._number(inner, counters)

    # --- inline roles -------------------------------------------------------------------
    def inline(self, text: str, register: bool = True, glued: list | None = None) -> str:
        def role(m: re.Match) -> str:
            if m.group("code"):
                return m.group(0)
            name, content = m.group("role"), m.group("content")
            explicit = EXPLICIT.match(content)
            shown, target = (explicit.group("text"), explicit.group("target").strip()) \
                if explicit else (None, content.strip())
            if name in ("cite", "cite:p", "cite:ps", "cite:t", "cite:ts", "cite:cp"):
                keys = [k.strip() for k in content.split(",") if k.strip()]
                if register:
                    self.cited += [k for k in keys if k not in self.cited]
                if name.startswith("cite:t"):
                    return "; ".join(f"[{who}]({self.bib.link(k)}) ({year})"
                                     for k in keys for who, year in [self.bib.label(k)])
                inner = "; ".join(f"[{who}, {year}]({self.bib.link(k)})"
                                  for k in keys for who, year in [self.bib.label(k)])
                return f"\\[{inner}\\]"
            if name in ("glue", "glue:text", "glue:md", "glue:any"):
                key = content.split(":", 1)[0].strip()
                if glued is not None:
                    glued.append(key)
                return f"{GLUE_OPEN}{key}{GLUE_CLOSE}"
            if name in ("prf:ref", "ref", "numref"):
                if shown:
                    return shown.replace("%s", self.labels.get(target, "").split(" ")[-1])
                if target in self.labels:
                    return self.labels[target]
                return self._elsewhere(name, target)
            if name == "doc":
                return self._doc_link(shown, target)
            if name == "eq":
                return f"({target})"
            if name == "math":
                return f"${content}$"
            if name in ("sub", "sup"):
                return f"<{name}>{content}</{name}>"
            if name == "abbr":
                return re.sub(r"\s*\(.*\)$", "", content)
            if name in ("term", "kbd", "command", "file", "samp", "guilabel", "index"):
                return shown or content
            raise ValueError(f"{self.rel}: no Colab conversion for the role {{{name}}}")

        return ROLE_OR_CODE.sub(role, text)

    def _elsewhere(self, name: str, target: str) -> str:
        """A reference to a label of another chapter (its name there, and a link to it)."""
        for src in chapter_sources():
            if src == self.path:
                continue
            other = _chapter_labels(src, self.cfg, self.bib)
            if target in other:
                rel = src.relative_to(ROOT).as_posix()
                link = colab_url(self.cfg, rel[:-3] + ".ipynb")
                return f"{other[target]} of [{_title_of(src)}]({link})"
        for md in sorted((ROOT / "book").rglob("*.md")):
            text = md.read_text(encoding="utf-8")
            m = re.search(rf"^\({re.escape(target)}\)=\s*\n+#+\s+(.+)$", text, re.M)
            if m:
                rel = md.relative_to(ROOT).as_posix()
                url = (f"{self.cfg['book_url'].rstrip('/')}/{Path(rel).with_suffix('.html')}"
                       if self.cfg.get("book_url") else blob_url(self.cfg, rel))
                return f"[{m.group(1).strip()}]({url})"
        raise ValueError(f"{self.rel}: {{{name}}} to unknown label {target!r}")

    def _short(self, key: str) -> str:
        return key.split(".", 1)[1] if re.match(r"^P\d{2}\.", key) else key

    def _doc_link(self, shown: str | None, target: str) -> str:
        base = Path(self.rel).parent
        rel = (ROOT / (target.lstrip("/") if target.startswith("/") else base / target)).resolve()
        for ext in (".py", ".md", ".ipynb"):
            candidate = rel.with_suffix(ext) if rel.suffix != ext else rel
            if candidate.exists():
                break
        else:
            raise ValueError(f"{self.rel}: {{doc}} to a missing document {target!r}")
        path = candidate.relative_to(ROOT).as_posix()
        title = shown or _title_of(candidate)
        if path.startswith("notebooks/") and path.endswith(".py"):
            return f"[{title}]({colab_url(self.cfg, path[:-3] + '.ipynb')})"
        if self.cfg.get("book_url"):
            page = Path(path).with_suffix(".html").as_posix()
            return f"[{title}]({self.cfg['book_url'].rstrip('/')}/{page})"
        return f"[{title}]({blob_url(self.cfg, path)})"

    # --- blocks ----------------------------------------------------------------------------
    def convert(self, text: str, glued: list) -> str:
        parts = []
        for block in parse_blocks(text):
            if block.kind == "fence":
                parts.append("\n".join(block.lines))
            elif block.kind == "text":
                kept = [ln for ln in block.lines if not TARGET.match(ln)]
                parts.append(self.inline("\n".join(kept), glued=glued))
            else:
                parts.append("\n" + self.directive(block, glued) + "\n")
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(parts)).strip("\n")
        return re.sub(r"^---\n\n---$", "---", text, flags=re.M)

    def directive(self, b: Block, glued: list) -> str:
        name = b.name
        body = self.convert(b.body, glued) if b.body else ""
        kind = name.split(":", 1)[1] if name.startswith("prf:") else name
        title = self.inline(b.arg, glued=glued) if b.arg else ""
        if name == "prf:proof":
            # the end-of-proof square closes the last paragraph, or stands alone after math/lists
            last = body.rsplit("\n\n", 1)[-1]
            plain = not re.match(r"^\s*(\$\$|[*+-] |\d+\. |```|>|\|)", last) and \
                not last.rstrip().endswith("$$")
            end = " $\\blacksquare$" if plain and body else "\n\n$\\blacksquare$"
            return f"*Proof{' (' + title + ')' if title else ''}.*\n\n{body}{end}"
        if name.startswith("prf:") and kind in PRF_TYPES:
            label = self.labels.get(b.options.get("label", ""), "") or kind.capitalize()
            head = f"**{label}** ({title})." if title else f"**{label}.**"
            return f"---\n\n{head}\n\n{body}\n\n---"
        if name == "exercise":  # a heading: Colab lists it in its contents and folds under it
            label = self.labels.get(b.options.get("label", ""), "Exercise")
            return f"#### {label}" + (f": {title}" if title else "") + f"\n\n{body}"
        if name == "solution":
            which = self.exercise_of.get(b.arg.strip(), "the exercise above")
            return _details(f"Solution to {which}", body)
        if name == "bibliography":
            if not self.cited:
                return ""
            return self.bib.references(self.cited)
        if name in ("solution-start", "solution-end"):
            raise AssertionError("handled per cell")
        if name in ADMONITIONS:
            heading = title or ("See also" if name == "seealso" else name.capitalize())
            if name == "dropdown" or "dropdown" in str(b.options.get("class", "")):
                return _details(heading, body)
            return _quote(heading, body)
        if name == "math":
            return f"$$\n{b.body.strip()}\n$$"
        if name in ("figure", "image"):
            src = (Path(self.rel).parent / b.arg).as_posix()
            raw = self.cfg["repository"].replace("https://github.com/",
                                                 "https://raw.githubusercontent.com/")
            alt = b.options.get("alt", "") or body.split("\n")[0]
            return f"![{alt}]({raw}/{self.cfg['ref']}/{src})" + (f"\n\n*{body}*" if body else "")
        if name in ("glue:figure", "glue", "glue:any", "glue:math"):
            glued.append(b.arg)
            return f"*(the figure or value {GLUE_OPEN}{b.arg}{GLUE_CLOSE}: see the note below)*"
        raise ValueError(f"{self.rel}: no Colab conversion for the directive {{{name}}}")

    # --- glue pointers -----------------------------------------------------------------------
    def where(self, key: str, at: int) -> tuple[str, str]:
        """(what, which cell) for a glue key used in the markdown cell ``at``."""
        found = [p for p in self.producers if p.pattern.match(key)]
        if not found:
            raise ValueError(f"{self.rel}: the glued key {key!r} is computed by no code cell")
        literal = [p for p in found if re.escape(key) in p.pattern.pattern]
        p = (literal or found)[0]
        return p.what, self.describe(p.cell, at)

    def describe(self, cell: int, at: int) -> str:
        if cell in self.claims_cells and len(self.claims_cells) == 1:
            return f"the claims cell {'below' if cell > at else 'above'}"
        if cell > at:
            n = sum(1 for i in self.code if at < i <= cell)
            where = "the next code cell" if n == 1 else f"the {_ordinal(n)} code cell below"
        else:
            n = sum(1 for i in self.code if cell <= i < at)
            where = "the code cell above" if n == 1 else f"the {_ordinal(n)} code cell above"
        section = self.headings.get(cell, "")
        if n > 1 and section and section != self.headings.get(at, ""):
            where += f" (in “{section}”)"
        if cell in self.claims_cells:
            where += " (a claims cell)"
        return where

    def place_notes(self, text: str, at: int) -> str:
        """Show glued keys as ``{key}`` and end each section that has some with a note on them."""
        sections: list[list[str]] = [[]]
        fence = None
        for line in text.split("\n"):
            m = FENCE_OPEN.match(line)
            if fence is None and m and line.strip().startswith(("```", "~~~")):
                fence = m.group("fence")
            elif fence is not None and line.strip() == fence:
                fence = None
            elif fence is None and HEADING.match(line) and any(ln.strip() for ln in sections[-1]):
                sections.append([])
            sections[-1].append(line)
        out = []
        for lines in sections:
            chunk = "\n".join(lines).rstrip("\n")
            keys = re.findall(f"{GLUE_OPEN}([^{GLUE_CLOSE}]+){GLUE_CLOSE}", chunk)
            if keys:
                chunk += "\n\n" + self.glue_note(keys, at)
            out.append(chunk)
        text = "\n\n".join(out)
        return re.sub(f"{GLUE_OPEN}([^{GLUE_CLOSE}]+){GLUE_CLOSE}",
                      lambda m: f"`{{{self._short(m.group(1))}}}`", text)

    def glue_note(self, keys: list[str], at: int) -> str:
        groups: dict[tuple[str, str], list[str]] = {}
        for key in dict.fromkeys(keys):
            groups.setdefault(self.where(key, at), []).append(key)
        phrases = []
        for (what, cell), ks in groups.items():
            names = ", ".join(f"`{{{self._short(k)}}}`" for k in ks)
            if what == "value":
                phrases.append(f"{names}: computed in {cell}")
            elif what == "claim":
                phrases.append(f"{names}: measured in {cell} (the *measured* column of its table)")
            elif what == "null":
                phrases.append(f"{names}: the null, measured in {cell} (the *null* column)")
            else:
                claims_of = list(dict.fromkeys(self._short(k.rsplit(".", 1)[0]) for k in ks))
                if len(claims_of) > 1:  # one phrase for every claim's ranges
                    suffixes = list(dict.fromkeys(k.rsplit(".", 1)[1] for k in ks))
                    names = ", ".join(f"`{{claim.{x}}}`" for x in suffixes)
                    names += " (claim: " + ", ".join(f"`{c}`" for c in claims_of) + ")"
                papers = sorted({k.split(".", 1)[0] for k in ks})
                record = ", ".join(f"`reptutor/calibration/{p}.json`" for p in papers)
                phrases.append(f"{names}: ranges over seeds 0-4, 5-9 and the null's over 0-9, "
                               f"from the committed calibration record ({record}), read in {cell}")
        return ("> *Values in braces are computed when the notebook runs (the book prints "
                "them):* " + "; ".join(phrases) + ".")

    # --- the notebook ------------------------------------------------------------------------
    def twin(self):
        import nbformat
        from nbformat import v4

        cells = []
        open_solution: str | None = None  # the exercise whose gated solution is open
        for index, cell in enumerate(self.cells):
            meta = {k: v for k, v in cell.get("metadata", {}).items() if k not in JUPYTEXT_KEYS}
            if cell.cell_type == "code":
                cells.append(v4.new_code_cell(cell.source, metadata=meta))
                continue
            if cell.cell_type == "raw":
                cells.append(v4.new_raw_cell(cell.source, metadata=meta))
                continue
            glued: list[str] = []
            text, open_solution = self.markdown_cell(cell.source, open_solution, glued)
            text = expand_macros(self.place_notes(text, index))
            following = self.cells[index + 1] if index + 1 < len(self.cells) else None
            if open_solution is not None and following is not None \
                    and following.cell_type == "code" and "continues in the code" not in text:
                which = self.exercise_of.get(open_solution, "the exercise")
                text += (f"\n\n*The next code cell is part of the solution to {which}: try the "
                         "exercise first.*")
            cells.append(v4.new_markdown_cell(text, metadata=meta))
            if index == 0:
                cells.append(v4.new_markdown_cell(self.preamble(), metadata={}))
        if open_solution is not None:
            raise ValueError(f"{self.rel}: a {{solution-start}} without its {{solution-end}}")
        digest = hashlib.sha1(self.rel.encode()).hexdigest()[:6]
        for i, c in enumerate(cells):
            c["id"] = f"{digest}-{i:03d}"
        nb = v4.new_notebook(cells=cells)
        nb.metadata = {
            "accelerator": "GPU",
            "colab": {"provenance": [], "gpuType": "T4", "toc_visible": True},
            "kernelspec": dict(self.nb.metadata.get("kernelspec") or {
                "display_name": "Python 3", "language": "python", "name": "python3"}),
            "language_info": {"name": "python"},
        }
        if "reptutor" in self.nb.metadata:
            nb.metadata["reptutor"] = self.nb.metadata["reptutor"]
        nbformat.validate(nb)
        return nb

    def markdown_cell(self, source: str, open_solution: str | None,
                      glued: list) -> tuple[str, str | None]:
        """Convert one markdown cell, folding gated solutions (solution-start ... solution-end)."""
        out: list[str] = []
        pending: list[str] = []  # converted text inside an open gated solution

        def close_part(final: bool):
            if open_solution is None:
                return
            body = "\n\n".join(p for p in pending if p.strip())
            summary = f"Solution to {self.exercise_of.get(open_solution, 'the exercise above')}"
            if body:
                out.append(_details(summary + ("" if started_here else " (continued)"), body))
            elif not final:
                out.append(_details(summary, "The solution continues in the code cell(s) below; "
                                             "try the exercise before you run or read them."))
            pending.clear()

        started_here = False
        run: list[str] = []
        for block in parse_blocks(source):
            if block.kind == "directive" and block.name == "solution-start":
                if open_solution is not None:
                    raise ValueError(f"{self.rel}: nested {{solution-start}}")
                if run:
                    out.append(self.convert("\n".join(run), glued))
                    run = []
                open_solution, started_here = block.arg.strip(), True
                continue
            if block.kind == "directive" and block.name == "solution-end":
                if open_solution is None:
                    raise ValueError(f"{self.rel}: {{solution-end}} without {{solution-start}}")
                if run:
                    pending.append(self.convert("\n".join(run), glued))
                    run = []
                which = self.exercise_of.get(open_solution, "the exercise")
                if pending and any(p.strip() for p in pending):
                    close_part(final=True)
                out.append(f"*(End of the solution to {which}.)*")
                open_solution, started_here = None, False
                continue
            run.append("\n".join(block.lines) if block.kind != "directive"
                       else _unparse(block))
        if run:
            converted = self.convert("\n".join(run), glued)
            if open_solution is not None:
                pending.append(converted)
            else:
                out.append(converted)
        if open_solution is not None:
            close_part(final=False)
        return "\n\n".join(p for p in out if p.strip()), open_solution

    def preamble(self) -> str:
        cfg = self.cfg
        record = full_run_record(self.rel)
        if record:
            scale = ("its **full** configuration has been run on a GPU "
                     f"({record.get('device', 'a GPU')}, {record.get('wall_s', 0):.0f} s), so on a "
                     "GPU it runs at full scale")
        else:
            scale = ("its **full** configuration has not been run on a GPU yet, so on a GPU it "
                     "runs the small **ci** configuration (on the GPU) and says how to try the "
                     "full one (`%env REPTUTOR_SCALE=full` before the set-up cell)")
        return (
            "> **On Colab.** *Runtime → Change runtime type → GPU* before you run anything (this "
            f"notebook asks for one). The next cell installs `reptutor` {cfg['ref']} and keeps "
            f"Colab's torch. The chapter checks its claims as it runs; {scale}. This notebook is "
            f"generated from [`{self.rel}`]({blob_url(cfg, self.rel)}) by `tools/make_twins.py`: "
            "a number the book prints appears here as `{its-name}`, with a note on the cell "
            "that computes it.")


@functools.lru_cache(maxsize=1)
def math_macros() -> dict[str, str]:
    """The book's MathJax macros (``_config.yml``), which Colab's renderer does not know."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    sphinx = config.get("sphinx", {}).get("config", {})
    tex = (sphinx.get("mathjax3_config") or {}).get("tex", {})
    return {k: v for k, v in (tex.get("macros") or {}).items() if isinstance(v, str)}


def expand_macros(text: str) -> str:
    for name, definition in math_macros().items():
        text = re.sub(rf"\\{name}(?![A-Za-z])", lambda m: definition, text)
    return text


_LABELS: dict[Path, dict[str, str]] = {}


def _chapter_labels(path: Path, cfg: dict, bib: Bibliography) -> dict[str, str]:
    if path not in _LABELS:
        _LABELS[path] = Chapter(path, cfg, bib).labels
    return _LABELS[path]


def _unparse(block: Block) -> str:
    """A directive back to MyST text (it is converted again with the rest of its run)."""
    opts = "".join(f":{k}: {v}\n" for k, v in block.options.items())
    return f"```{{{block.name}}} {block.arg}".rstrip() + f"\n{opts}\n{block.body}\n```"


def _details(summary: str, body: str) -> str:
    return f"<details>\n<summary><b>{summary}</b></summary>\n\n{body}\n\n</details>"


def _quote(title: str, body: str) -> str:
    if "$$" in body or "```" in body:
        return f"**{title}.**\n\n{body}"  # a block quote would put '>' inside the math
    paragraphs = [" ".join(p.split("\n")) for p in re.split(r"\n\s*\n", body)]
    lines = [f"> **{title}.**"]
    for p in paragraphs:
        lines += [">", f"> {p}"]
    return "\n".join(lines)


def _ordinal(n: int) -> str:
    return {2: "2nd", 3: "3rd"}.get(n, f"{n}th") if n < 21 else f"{n}th"


def _title_of(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    for line in text.splitlines():
        m = re.match(r"^# #\s+(.+)$" if path.suffix == ".py" else r"^#\s+(.+)$", line)
        if m:
            return m.group(1).strip()
    return path.stem


def full_run_record(rel: str) -> dict | None:
    """The committed full-scale run of a chapter (reptutor/calibration/full_runs.json), if fresh."""
    path = ROOT / "reptutor" / "calibration" / "full_runs.json"
    if not path.exists():
        return None
    runs = json.loads(path.read_text(encoding="utf-8")).get("runs", {})
    record = runs.get(rel)
    if not record:
        return None
    sys.path.insert(0, str(ROOT))
    from reptutor import claims

    return record if record.get("code_sha256") == claims.code_digest(ROOT / rel) else None


# ------------------------------------------------------------------------------------------
# Files


def chapter_sources() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*/*.py"))


def twin_text(path: Path, cfg: dict | None = None, bib: Bibliography | None = None) -> str:
    """The twin of ``path`` exactly as it is committed (nbformat JSON, a final newline)."""
    import nbformat

    cfg = cfg or project_config()
    bib = bib or Bibliography(cfg)
    text = nbformat.writes(Chapter(path, cfg, bib).twin())
    return text if text.endswith("\n") else text + "\n"


def stale_twins(paths: list[Path] | None = None) -> list[str]:
    cfg = project_config()
    bib = Bibliography(cfg)
    stale = []
    for src in paths or chapter_sources():
        twin = src.with_suffix(".ipynb")
        if not twin.exists() or twin.read_text(encoding="utf-8") != twin_text(src, cfg, bib):
            stale.append(src.relative_to(ROOT).as_posix())
    return stale


INSTALL_CELL = re.compile(r"^# %%[^\n]*\btags=\[[^\]]*\"install\"[^\]]*\][^\n]*\n(.*?)(?=^# %%)",
                          re.M | re.S)
PAIRING = re.compile(r"^#\s+formats:\s*[^\n]*\n", re.M)


def fix_source(path: Path, cfg: dict | None = None) -> bool:
    """Write the install cell from the config into ``path`` and remove its jupytext pairing."""
    cfg = cfg or project_config()
    text = path.read_text(encoding="utf-8")
    new = text
    header_end = new.find("# ---", 5)
    if new.startswith("# ---") and header_end > 0:
        new = PAIRING.sub("", new[:header_end]) + new[header_end:]
    m = INSTALL_CELL.search(new)
    if not m:
        raise SystemExit(f"{path}: no code cell tagged \"install\"")
    new = new[:m.start(1)] + install_cell_source(cfg) + "\n\n" + new[m.end(1):]
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*", help="chapter sources (default: every notebooks/*/*.py)")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a twin is stale")
    ap.add_argument("--fix-sources", action="store_true",
                    help="rewrite the sources' install cells from pyproject.toml [tool.reptutor] "
                         "and drop their jupytext pairing")
    args = ap.parse_args()
    paths = [Path(p).resolve() for p in args.paths] or chapter_sources()
    if args.fix_sources:
        for p in paths:
            if fix_source(p):
                print(f"fixed {p.relative_to(ROOT)}")
        return 0
    if args.check:
        stale = stale_twins(paths)
        for s in stale:
            print(f"stale twin: {s} (run `make twins`)")
        return 1 if stale else 0
    cfg = project_config()
    bib = Bibliography(cfg)
    for src in paths:
        twin = src.with_suffix(".ipynb")
        text = twin_text(src, cfg, bib)
        if not twin.exists() or twin.read_text(encoding="utf-8") != text:
            twin.write_text(text, encoding="utf-8")
            print(f"wrote {twin.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
