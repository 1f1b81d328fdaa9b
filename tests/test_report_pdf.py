"""The printed report keeps every table's header on the page of its first row.

Chromium prints the report (``report.pdf``); pypdf reads the text of each
page back. For each table in document order, its header text and the text of
its first row must be found on the same page, and a heading kept with its
table must be there too. Needs Debian's ``chromium``.
"""

from __future__ import annotations

import html as _html
import re
import unicodedata

import pytest

from realimpact.report import html_to_pdf, render_report
from tests._report_fixture import results

pytestmark = pytest.mark.browser


def _squash(s: str) -> str:
    """Text with tags, entities and all whitespace removed (PDF text wraps anywhere)."""
    s = _html.unescape(re.sub(r"<[^>]+>", "", s))
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s))


def _tables(page: str) -> list[tuple[str, str, str]]:
    """(heading kept with it or '', header text, first body row's first cell) per table."""
    body = re.sub(r"<(style|svg)\b.*?</\1>", "", page, flags=re.S)
    out = []
    for m in re.finditer(r"(<h[34][^>]*>([^<]*)</h[34]>\s*)?<table[^>]*>(.*?)</table>", body, re.S):
        head = re.search(r"<thead>(.*?)</thead>", m[3], re.S)
        row = re.search(r"<tbody>\s*<tr[^>]*>\s*<t[dh][^>]*>(.*?)</t[dh]>", m[3], re.S)
        if head and row and _squash(row[1]):
            out.append((_squash(m[2] or ""), _squash(head[1]), _squash(row[1])))
    return out


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    pypdf = pytest.importorskip("pypdf")
    d = tmp_path_factory.mktemp("pdf")
    page = render_report(
        results(), d, extras={"truth": {"indicators": {"asb": {"rate_ratio": 0.7}}}}
    )
    pdf = html_to_pdf(page, d / "report.pdf")
    # NFKC: the PDF text has ligatures ('ﬀ') where the page has 'ff'
    texts = [_squash(p.extract_text() or "") for p in pypdf.PdfReader(pdf).pages]
    return page.read_text("utf-8"), texts


def test_each_table_header_is_on_the_page_of_its_first_row(printed) -> None:
    page, texts = printed
    assert len(texts) >= 3
    tables = _tables(page)
    assert len(tables) >= 10
    cur_page, cur_pos = 0, 0
    for heading, header, first in tables:
        found = None
        for i in range(cur_page, len(texts)):
            start = cur_pos if i == cur_page else 0
            at = texts[i].find(header, start)
            if at >= 0:
                found = (i, at)
                break
        assert found, f"table header {header[:40]!r} not found in the PDF text"
        i, at = found
        row_at = texts[i].find(first, at + len(header))
        assert row_at >= 0, f"{header[:40]!r}: first row {first[:30]!r} is not on page {i + 1}"
        if heading:
            assert heading in texts[i][:at], f"heading {heading!r} left on another page"
        cur_page, cur_pos = i, row_at


def test_print_css_keeps_headers_and_forces_no_page_breaks(printed) -> None:
    page, _ = printed
    css = page[page.index("@media print") : page.index("</style>")]
    assert "thead { display: table-header-group; }" in css
    assert "break-after: avoid" in css and "break-inside: avoid" in css
    assert "break-before: page" not in page and "page-break-before: always" not in page
