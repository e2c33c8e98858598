"""Markdown and self-contained HTML from one list of sections.

A section is a title and blocks: paragraphs (plain text with ``code``, **bold** and ``- ``
bullet lines), tables (already formatted as strings) and figures (PNG bytes). The Markdown
links figures as files next to it; the HTML embeds them as base64 and loads nothing else.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class Table:
    """A display table: every cell a string; ``numeric`` columns are right-aligned."""

    df: pd.DataFrame
    numeric: set[str] = field(default_factory=set)
    caption: str = ""


@dataclass
class Figure:
    png: bytes
    name: str  # file stem, unique in the report
    caption: str


Block = str | Table | Figure


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


FLAG_CLASS = {
    "better": "better",
    "worse": "worse",
    "within seed noise": "noise",
    "not enough seeds": "few",
    "reference": "ref",
}

CSS = """
body{font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
 max-width:1200px;margin:24px auto;padding:0 20px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;padding-bottom:4px;
 border-bottom:1px solid #d0d7de}h3{font-size:15px;margin:18px 0 6px}
p,ul{margin:6px 0}code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;
 background:#f3f4f6;padding:1px 4px;border-radius:4px}
nav{font-size:13px;color:#57606a}nav a{color:#0969da;text-decoration:none;margin-right:12px}
.box{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:8px 14px}
table{border-collapse:collapse;margin:8px 0 4px;font-size:13px}
th,td{padding:3px 8px;border-bottom:1px solid #e5e7eb;text-align:left;white-space:nowrap}
th{background:#f6f8fa;font-weight:600;border-bottom:1px solid #d0d7de}
tr:nth-child(even) td{background:#fafbfc}td.num,th.num{text-align:right;
 font-variant-numeric:tabular-nums}
td.wrap{white-space:normal;max-width:420px}.scroll{overflow-x:auto}
.caption{font-size:12px;color:#57606a;margin:2px 0 10px}
figure{margin:10px 0 16px}figure img{max-width:100%;height:auto}
figcaption{font-size:12px;color:#57606a}
td.better{color:#1a7f37;font-weight:600}td.worse{color:#cf222e;font-weight:600}
td.noise{color:#57606a}td.few{color:#9aa1a9}td.ref{color:#0969da;font-weight:600}
"""


def _inline_html(text: str) -> str:
    t = html.escape(text, quote=False)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)


def _para_html(text: str) -> str:
    lines = text.strip().splitlines()
    if lines and all(ln.startswith("- ") for ln in lines):
        items = "".join(f"<li>{_inline_html(ln[2:])}</li>" for ln in lines)
        return f"<ul>{items}</ul>"
    return f"<p>{_inline_html(' '.join(lines))}</p>"


def _table_html(t: Table) -> str:
    cols = list(t.df.columns)
    head = "".join(
        f'<th class="num">{html.escape(str(c))}</th>'
        if c in t.numeric
        else f"<th>{html.escape(str(c))}</th>"
        for c in cols
    )
    body = []
    for row in t.df.itertuples(index=False):
        tds = []
        for c, v in zip(cols, row):
            s = str(v)
            cls = "num" if c in t.numeric else FLAG_CLASS.get(s, "wrap" if len(s) > 60 else "")
            attr = f' class="{cls}"' if cls else ""
            tds.append(f"<td{attr}>{html.escape(s)}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    cap = f'<div class="caption">{_inline_html(t.caption)}</div>' if t.caption else ""
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>{cap}"
    )


def _figure_html(f: Figure) -> str:
    data = base64.b64encode(f.png).decode("ascii")
    alt = html.escape(f.caption)
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">'
        f"<figcaption>{_inline_html(f.caption)}</figcaption></figure>"
    )


def to_html(title: str, subtitle: str, sections: list[Section]) -> str:
    nav = "".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>{_inline_html(subtitle)}</p><nav>{nav}</nav>",
    ]
    for s in sections:
        parts.append(f'<h2 id="{s.anchor}">{html.escape(s.title)}</h2>')
        for b in s.blocks:
            if isinstance(b, Table):
                parts.append(_table_html(b))
            elif isinstance(b, Figure):
                parts.append(_figure_html(b))
            elif b.startswith("### "):
                parts.append(f"<h3>{_inline_html(b[4:])}</h3>")
            else:
                parts.append(_para_html(b))
    parts.append("</body></html>")
    return "\n".join(parts)


def _md_cell(v: object) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def _table_md(t: Table) -> str:
    cols = list(t.df.columns)
    lines = [
        "| " + " | ".join(_md_cell(c) for c in cols) + " |",
        "|" + "|".join("---:" if c in t.numeric else ":---" for c in cols) + "|",
    ]
    lines += [
        "| " + " | ".join(_md_cell(v) for v in row) + " |" for row in t.df.itertuples(index=False)
    ]
    if t.caption:
        lines += ["", f"*{t.caption}*"]
    return "\n".join(lines)


def to_markdown(title: str, subtitle: str, sections: list[Section], fig_dir: str) -> str:
    """Markdown; figures are linked as ``{fig_dir}/{name}.png`` (written by the caller)."""
    out = [f"# {title}", "", subtitle, ""]
    for s in sections:
        out += [f"## {s.title}", ""]
        for b in s.blocks:
            if isinstance(b, Table):
                out.append(_table_md(b))
            elif isinstance(b, Figure):
                out.append(f"![{b.caption}]({fig_dir}/{b.name}.png)")
            else:
                out.append(b.strip())
            out.append("")
    return "\n".join(out)


def write_figures(sections: list[Section], fig_dir: Path) -> list[Path]:
    fig_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in sections:
        for b in s.blocks:
            if isinstance(b, Figure):
                p = fig_dir / f"{b.name}.png"
                p.write_bytes(b.png)
                paths.append(p)
    return paths
