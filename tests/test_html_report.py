"""Tests of the self-contained HTML report (dedupe.html_report)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
from dedupe.errors import ConfigError, InputError, OutputError  # noqa: E402
from dedupe.html_report import render_report  # noqa: E402

EVIL = '<script>window.__xss = 1</script> & <b>Ünïcödé</b> — 北京 🦄 "quoted"'


def _row(doc, block, text, action="keep", reason=None, score=None, dup=None, cluster=None, **extra):
    return dict(doc_id=doc, block=block, start=0, end=len(text), text=text, action=action,
                reason=reason, score=score,
                duplicate_of=None if dup is None else {"doc_id": dup[0], "block": dup[1]},
                cluster=cluster, **extra)


def synthetic_rows():
    """Three documents: the kept original, a cross-document copy, a near-duplicate, templates,
    a flagged block, an unknown reason, and text that must be escaped."""
    src_a, src_b = "https://www.example.com/a", "https://news.example.org/b"
    return [
        _row("a.txt", 0, "Original paragraph that other documents copy word for word.", source=src_a),
        _row("a.txt", 1, EVIL, source=src_a),
        _row("a.txt", 2, "Subscribe to our newsletter", "strip", "template", 0.97, cluster=7, source=src_a),
        _row("b.txt", 0, "Independent opening of document b.", source=src_b),
        _row("b.txt", 1, "Original paragraph that other documents copy word for word.", "strip",
             "duplicate", 1.0, dup=("a.txt", 0), cluster=1, source=src_b),
        _row("b.txt", 2, "Original paragraph that other documents copy word-for-word!", "strip",
             "near-duplicate", 0.91, dup=("b.txt", 1), source=src_b),
        _row("b.txt", 3, "Subscribe to our newsletter", "strip", "template", 0.95, cluster=7, source=src_b),
        _row("b.txt", 4, "Shared across documents but only flagged.", "keep", "near-duplicate", 0.88,
             source=src_b, extra_field={"ignored": True}),
        _row("c.txt", 0, "Buy shoes now", "strip", "mystery-reason", None, source=src_b),
        _row("c.txt", 1, "A third document's kept text.", source=src_b),
    ]


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


class _Page(HTMLParser):
    """Collects ids, hrefs, block elements (by id) and text of a rendered page."""

    def __init__(self):
        super().__init__()
        self.ids, self.hrefs, self.blocks, self.scripts = {}, [], {}, 0
        self._open: list[tuple[str, str | None]] = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            assert attrs["id"] not in self.ids, f"duplicate id {attrs['id']}"
            self.ids[attrs["id"]] = (tag, attrs)
        if tag == "a" and "href" in attrs:
            self.hrefs.append((self._current_block(), attrs["href"]))
        if tag == "script":
            self.scripts += 1
        if tag == "del" and self._current_block():
            self.blocks[self._current_block()]["struck"] = True
        if tag == "div" and attrs.get("id", "").startswith("b-"):
            self.blocks[attrs["id"]] = dict(attrs, struck=False, text="")
            self._open.append((tag, attrs["id"]))
        elif tag not in ("br", "meta", "input"):
            self._open.append((tag, None))

    def handle_endtag(self, tag):
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data):
        self.text.append(data)
        if self._current_block():
            self.blocks[self._current_block()]["text"] += data

    def _current_block(self):
        for _, bid in reversed(self._open):
            if bid:
                return bid
        return None


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture
def synthetic(tmp_path):
    report = write_jsonl(tmp_path / "report.jsonl", synthetic_rows())
    out = tmp_path / "report.html"
    info = render_report(report, out)
    return info, out, parse(out)


def test_every_block_has_a_stable_anchor(synthetic):
    info, _, page = synthetic
    expected = {f"b-{d}-{b}" for d, n in enumerate([3, 5, 2]) for b in range(n)}
    assert expected <= set(page.blocks)
    assert info["documents_total"] == info["documents_shown"] == 3
    assert info["blocks_total"] == info["blocks_shown"] == 10


def test_duplicates_link_to_the_kept_copy_across_documents(synthetic):
    _, _, page = synthetic
    links = dict(page.hrefs)
    assert links["b-1-1"] == "#b-0-0"  # exact duplicate in b.txt -> original in a.txt
    assert links["b-1-2"] == "#b-1-1"  # near-duplicate within b.txt
    for _, href in page.hrefs:
        assert href.startswith("#") and href[1:] in page.ids, f"dangling link {href}"


def test_stripped_blocks_are_struck_and_flagged_ones_are_not(synthetic):
    _, _, page = synthetic
    struck = {bid for bid, b in page.blocks.items() if b["struck"]}
    assert struck == {"b-0-2", "b-1-1", "b-1-2", "b-1-3", "b-2-0"}
    flagged = page.blocks["b-1-4"]
    assert not flagged["struck"] and "flagged" in flagged["title"] and "0.88" in flagged["title"]
    assert "near-duplicate" in page.blocks["b-1-2"]["title"] and "0.91" in page.blocks["b-1-2"]["title"]
    # A reason the renderer has never heard of still gets a class, a colour and a filter.
    unknown = page.blocks["b-2-0"]
    assert re.search(r"\br\d+\b", unknown["class"])
    assert "mystery-reason" in unknown["title"]


def test_text_is_escaped(synthetic):
    _, out, page = synthetic
    html_text = out.read_text(encoding="utf-8")
    assert "<script>alert" not in html_text
    assert page.scripts == 1  # only the page's own filter/search script
    assert EVIL in page.blocks["b-0-1"]["text"]  # the browser shows the text exactly as written


def test_summary_counts(synthetic):
    _, out, page = synthetic
    html_text = out.read_text(encoding="utf-8")

    def reason_row(reason):
        m = re.search(rf'<tr class="r\d+" data-reason="{re.escape(reason)}">(.*?)</tr>', html_text)
        assert m, f"no summary row for {reason}"
        return [c for c in re.findall(r'<td class="n">([\d,]+)</td>', m.group(1))]

    rows = synthetic_rows()

    def chars(reason):  # characters the report strips for a reason, from the rows themselves
        return str(sum(len(r["text"]) for r in rows if r["action"] == "strip" and r["reason"] == reason))

    assert reason_row("template") == ["2", chars("template"), "0"]  # blocks, chars, flagged
    assert reason_row("duplicate") == ["1", chars("duplicate"), "0"]
    assert reason_row("near-duplicate") == ["1", chars("near-duplicate"), "1"]
    assert reason_row("mystery-reason") == ["1", chars("mystery-reason"), "0"]
    assert chars("template") == str(2 * len("Subscribe to our newsletter"))
    # Both template blocks are one cluster, listed once with its count.
    m = re.search(r'<table id="templates">(.*?)</table>', html_text, re.S)
    assert m and m.group(1).count("Subscribe to our newsletter") == 1
    assert '<td class="n">2</td>' in m.group(1)
    # Sources are reduced to their host.
    m = re.search(r'<table id="by-source">(.*?)</table>', html_text, re.S)
    assert m and "news.example.org" in m.group(1) and "https://" not in m.group(1)
    # documents without text have no line in the report: the page counts those with text (it
    # said "documents", against the summary's count of all of them)
    assert "This page shows all 3 documents with text" in "".join(page.text)
    assert re.search(r'documents with text<b>3</b>', html_text)


def _many_docs(n_docs: int, blocks_per_doc: int = 4):
    rows = []
    for d in range(n_docs):
        doc = f"doc{d:04d}"
        rows.append(_row(doc, 0, f"kept opening of {doc}"))
        for b in range(1, blocks_per_doc):
            if d > 0 and b == 1:  # every later document copies document 0's opening
                rows.append(_row(doc, b, "kept opening of doc0000", "strip", "duplicate", 1.0,
                                 dup=("doc0000", 0)))
            elif b == 2 and d % 7 == 0:  # some documents strip a lot more than others
                rows.append(_row(doc, b, "x" * (100 + d), "strip", "boilerplate", 0.7))
            else:
                rows.append(_row(doc, b, f"text {d}.{b}"))
    return rows


def test_large_report_selects_top_sample_and_linked_documents(tmp_path):
    report = write_jsonl(tmp_path / "r.jsonl", _many_docs(300))
    out = tmp_path / "r.html"
    info = render_report(report, out, max_documents=20, sample_seed=3)
    assert info["documents_total"] == 300
    assert info["documents_top"] == 10 and info["documents_sample"] == 10
    page = parse(out)
    sections = {attrs["data-doc"] for tag, attrs in page.ids.values() if tag == "section"}
    # The top half are the documents stripping the most characters: the largest multiples of 7.
    top = {f"doc{d:04d}" for d in sorted(range(0, 300, 7), reverse=True)[:10]}
    assert top <= sections
    # Document 0 holds the kept copy every duplicate points to, so it is on the page.
    assert "doc0000" in sections
    assert info["documents_shown"] == len(sections) in (20, 21)
    for _, href in page.hrefs:
        assert href[1:] in page.ids
    assert "of 300 documents" in "".join(page.text)
    # The sample is reproducible and depends on the seed.
    again = tmp_path / "again.html"
    render_report(report, again, max_documents=20, sample_seed=3)
    assert again.read_text() == out.read_text()
    other = tmp_path / "other.html"
    render_report(report, other, max_documents=20, sample_seed=4)
    assert other.read_text() != out.read_text()


def test_the_second_pass_parses_only_the_documents_it_shows(tmp_path, monkeypatch):
    """Lines as `dedupe clean` writes them are grouped by their leading id, and parsed only for
    the documents on the page; the page is the one a full parse gives."""
    from dedupe import html_report

    report = write_jsonl(tmp_path / "r.jsonl", _many_docs(300))
    lines = sum(1 for _ in open(report))
    parsed = []
    real_parse = html_report.parse_json
    monkeypatch.setattr(html_report, "parse_json", lambda line: parsed.append(line) or real_parse(line))
    info = render_report(report, tmp_path / "skimmed.html", max_documents=4)
    assert lines < len(parsed) < lines + 0.1 * lines  # the first pass parses all, the second a few
    assert info["documents_shown"] >= 4
    monkeypatch.setattr(html_report, "_skimmed_documents", lambda path: html_report._documents(
        html_report.read_blocks(path)))
    render_report(report, tmp_path / "parsed.html", max_documents=4)
    assert (tmp_path / "skimmed.html").read_text() == (tmp_path / "parsed.html").read_text()


def test_a_line_naming_its_document_twice_is_grouped_by_the_last_name(tmp_path):
    """JSON takes the last of a repeated key: the leading id would group such a line with the
    wrong document, so the report is read in full, and the page is that of the same lines with
    the key written once."""
    rows = synthetic_rows()
    twice = [json.dumps(r, ensure_ascii=False) for r in rows]
    twice[3] = twice[3][:-1] + ', "doc_id": "a.txt"}'  # b.txt's first block, named a.txt at its end
    (tmp_path / "twice").mkdir()
    (tmp_path / "once").mkdir()
    (tmp_path / "twice" / "r.jsonl").write_text("\n".join(twice) + "\n", encoding="utf-8")
    write_jsonl(tmp_path / "once" / "r.jsonl", [json.loads(line) for line in twice])
    for folder in ("twice", "once"):
        render_report(tmp_path / folder / "r.jsonl", tmp_path / folder / "r.html")
    assert (tmp_path / "twice" / "r.html").read_text() == (tmp_path / "once" / "r.html").read_text()
    assert 'data-doc="a.txt"' in (tmp_path / "once" / "r.html").read_text()


def test_user_errors_are_reported_without_traceback(tmp_path):
    good = write_jsonl(tmp_path / "r.jsonl", synthetic_rows())
    with pytest.raises(InputError, match="not found"):
        render_report(tmp_path / "missing.jsonl", tmp_path / "x.html")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(synthetic_rows()[0]) + "\n{not json\n")
    with pytest.raises(InputError, match=r"bad\.jsonl:2"):
        render_report(bad, tmp_path / "x.html")
    wrong = write_jsonl(tmp_path / "wrong.jsonl", [{"doc_id": "a", "block": 0, "text": "t", "action": "drop"}])
    with pytest.raises(InputError, match="keep.*strip"):
        render_report(wrong, tmp_path / "x.html")
    with pytest.raises(ConfigError):
        render_report(good, tmp_path / "x.html", max_documents=0)
    with pytest.raises(OutputError):
        render_report(good, good)
    # a missing folder is made, as `dedupe clean` makes those of its outputs
    assert render_report(good, tmp_path / "no-such-folder" / "x.html")["documents_shown"] > 0
    with pytest.raises(OutputError, match="is a file, not a folder"):  # said the folder did not exist
        render_report(good, good / "x.html")
    assert not (tmp_path / "x.html").exists()
    # a score beyond any float is not plotted (math.isnan raised OverflowError on it)
    huge = write_jsonl(tmp_path / "huge.jsonl", [{**synthetic_rows()[0], "score": 10**400}])
    assert render_report(huge, tmp_path / "h.html")["documents_shown"] == 1


# --------------------------------------------------------------------------------------------
# Browser test: the real seeds report in headless Chromium.
# --------------------------------------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ROWLING_DOC, ROWLING_BLOCK, ROWLING_COPY = "002_3474f9fe90996d73.txt", 126, 120


@pytest.fixture
def seeds_report(tmp_path):
    """The report `dedupe clean` writes for the bundled seeds."""
    out, report = tmp_path / "clean", tmp_path / "report.jsonl"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "dedupe", "clean", "seeds", "-o", str(out), "--report", str(report)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"dedupe clean failed:\n{proc.stdout}\n{proc.stderr}"
    return report


@pytest.fixture
def browser(tmp_path):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        selenium_ok = False
    else:
        selenium_ok = True
    if not (selenium_ok and CHROMIUM.exists() and CHROMEDRIVER.exists()):
        why = "selenium, /usr/bin/chromium or /usr/bin/chromedriver is missing"
        if os.environ.get("CI"):
            pytest.fail(f"{why}; CI must install them")
        pytest.skip(why)
    opts = Options()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,1400", f"--user-data-dir={tmp_path / 'chrome-profile'}"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def test_seeds_report_in_a_real_browser(browser, seeds_report, tmp_path):
    from selenium.webdriver.common.by import By

    rows = [json.loads(line) for line in seeds_report.read_text(encoding="utf-8").splitlines() if line.strip()]
    rowling = next(r for r in rows if r["doc_id"] == ROWLING_DOC and r["block"] == ROWLING_BLOCK)
    assert rowling["text"].startswith("Rowling wrote:")
    assert rowling["action"] == "strip" and rowling["reason"] in ("duplicate", "near-duplicate")
    assert rowling["duplicate_of"] == {"doc_id": ROWLING_DOC, "block": ROWLING_COPY}

    page = tmp_path / "report.html"
    render_report(seeds_report, page)
    browser.get(page.as_uri())

    section = browser.find_element(By.CSS_SELECTOR, f'section[data-doc="{ROWLING_DOC}"]')
    doc_index = section.get_attribute("id").removeprefix("d-")
    block = browser.find_element(By.ID, f"b-{doc_index}-{ROWLING_BLOCK}")
    struck = block.find_element(By.TAG_NAME, "del")
    style = browser.execute_script(
        "return getComputedStyle(arguments[0]).textDecorationLine", struck)
    assert "line-through" in style
    assert struck.text.startswith("Rowling wrote:")
    kept = browser.find_element(By.ID, f"b-{doc_index}-{ROWLING_COPY}")
    assert "line-through" not in browser.execute_script(
        "return getComputedStyle(arguments[0]).textDecorationLine", kept)

    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    browser.save_screenshot(str(artifacts / "report.png"))  # the summary, as a reader first sees it

    link = block.find_element(By.TAG_NAME, "a")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
    link.click()
    assert browser.execute_script("return location.hash") == f"#b-{doc_index}-{ROWLING_COPY}"

    # Unticking the stripped block's reason hides it: the filters work in a real browser.
    reason_class = next(c for c in block.get_attribute("class").split() if re.fullmatch(r"r\d+", c))
    browser.find_element(By.CSS_SELECTOR, f'input[data-c="{reason_class}"]').click()
    assert not block.is_displayed() and kept.is_displayed()

    # The search box brings the document into view.
    browser.find_element(By.ID, "q").send_keys(ROWLING_DOC[:8])
    assert "1 / 1" in browser.find_element(By.ID, "qn").text
    assert "hit" in section.get_attribute("class")


def test_synthetic_report_in_a_real_browser(browser, tmp_path):
    """The cross-document link works in a browser too, whatever the cleaner does to the seeds."""
    from selenium.webdriver.common.by import By

    report = write_jsonl(tmp_path / "r.jsonl", synthetic_rows())
    page = tmp_path / "r.html"
    render_report(report, page)
    browser.get(page.as_uri())
    assert browser.execute_script("return window.__xss === undefined")  # the text did not run
    assert EVIL in browser.find_element(By.ID, "b-0-1").get_attribute("textContent")
    browser.find_element(By.CSS_SELECTOR, "#b-1-1 a").click()
    assert browser.execute_script("return location.hash") == "#b-0-0"


def test_link_to_a_later_document_and_a_missing_copy(tmp_path):
    rows = [
        _row("early.txt", 0, "Copied from a later file", "strip", "duplicate", 1.0, dup=("late.txt", 0)),
        _row("early.txt", 1, "Copy of a block that is in no document", "strip", "duplicate", 1.0,
             dup=("ghost.txt", 3)),
        _row("late.txt", 0, "Copied from a later file"),
    ]
    out = tmp_path / "r.html"
    render_report(write_jsonl(tmp_path / "r.jsonl", rows), out)
    page = parse(out)
    assert dict(page.hrefs) == {"b-0-0": "#b-1-0"}  # resolved although rendered before its target
    assert "(not shown)" in page.blocks["b-0-1"]["text"]


def _as_read_back(block) -> tuple:
    return tuple(getattr(block, name) for name in block.__slots__)


def test_a_decision_gives_the_block_its_report_line_reads_as():
    """What `dedupe clean --html` feeds the page's first pass instead of reading the report:
    for each decision, the block that read_blocks makes of its report line."""
    import numpy as np

    from conftest import SEEDS
    from dedupe.html_report import _block_of_decision, _parse_block
    from dedupe.indexing import BlockRef
    from dedupe.pipeline import BlockDecision, Cleaner
    from dedupe.reading import read_documents
    from dedupe.report import report_lines

    decisions = [d for c in Cleaner().clean(read_documents(str(SEEDS))) for d in c.decisions]
    assert {d.reason for d in decisions} >= {"duplicate", "near-duplicate", "boilerplate", "off-topic"}
    odd = [("a", np.float64(0.123456789), BlockRef("b", 2), 3, "https://www.bbc.co.uk/news"),
           ("a", float("inf"), None, None, "not a url"), ("a", 0.5, BlockRef(7, 1), "c9", ""),
           ("b", 1, None, True, None)]
    decisions += [BlockDecision(doc_id, k, 0, 4, "text", "strip", "duplicate", score, ref, cluster, source)
                  for k, (doc_id, score, ref, cluster, source) in enumerate(odd)]
    for d in decisions:
        line = report_lines(_cleaned_document_of(d))
        assert _as_read_back(_block_of_decision(d)) == _as_read_back(_parse_block(json.loads(line), "x")), line
    with pytest.raises(InputError, match="doc_id"):  # the reader refuses it, and so does the first pass
        _block_of_decision(BlockDecision(5, 0, 0, 4, "text", "keep"))


def _cleaned_document_of(decision):
    from dedupe.pipeline import CleanedDocument
    from dedupe.reading import Document

    return CleanedDocument(Document(id="x", text=""), "", [decision])


def test_the_page_of_clean_html_is_the_page_view_renders_from_its_report(tmp_path):
    """`dedupe clean --html` makes the page's first pass from the decisions, not from the report:
    the same page, on documents from several sites, two documents in a row under one id (one
    document to the page, as the report reads), and templates."""
    from conftest import run_dedupe, seed_lines

    texts = ["\n".join(seed_lines(name)) for name in sorted(os.listdir(ROOT / "seeds"))]
    template = "Join our WhatsApp channel for the latest news."
    rows = [{"id": f"d{k}", "url": f"https://site{k % 3}.example/{k}", "text": f"{template}\n{text}"}
            for k, text in enumerate(texts * 3)]
    rows[4]["id"] = rows[3]["id"]
    dump = tmp_path / "dump.jsonl"
    dump.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = run_dedupe("clean", dump, "-o", tmp_path / "out.jsonl", "--report", tmp_path / "r.jsonl",
                        "--html", tmp_path / "clean.html", "--template-min-docs", "3")
    assert result.returncode == 0, result.stderr
    reasons = {json.loads(line)["reason"] for line in open(tmp_path / "r.jsonl", encoding="utf-8")}
    assert {"duplicate", "template", "off-topic"} <= reasons
    result = run_dedupe("view", tmp_path / "r.jsonl", "-o", tmp_path / "view.html")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "clean.html").read_bytes() == (tmp_path / "view.html").read_bytes()
