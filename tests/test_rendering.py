"""Preset text reaches competition.yaml and the pages exactly as written, never as markup.

Titles and descriptions used to be pasted into double-quoted YAML, so `\\epsilon` became an
escape character and `\\x` or a trailing backslash broke bundling; `<script>` reached the HTML
pages as a tag (issue #11, item 8).
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from generator.publish.pages import html_page, markdown_text, render_markdown_pages
from generator.publish.platforms import (
    competition_texts,
    render_codabench_yaml,
    render_codalab_yaml,
)
from generator.spec.presets import load_preset

ROOT = Path(__file__).resolve().parent.parent
NASTY = (
    "ε \\epsilon, \\x and \"double\" 'single' <script>alert(1)</script> key: value # no comment \\"
)
MARKUP = "*em* _u_ | $x^2$ ~~s~~ [link](u) ![img](u) &amp; `code` <b>bold</b>"


class _Text(HTMLParser):
    """The text a browser shows, per element: tags found and the text of each h1, p and td."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.blocks: list[tuple[str, str]] = []
        self._open: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in ("h1", "p", "td", "title"):
            self._open.append((tag, []))

    def handle_endtag(self, tag):
        if self._open and self._open[-1][0] == tag:
            name, parts = self._open.pop()
            self.blocks.append((name, "".join(parts)))

    def handle_data(self, data):
        for _, parts in self._open:
            parts.append(data)


def _shown(html: str) -> _Text:
    parser = _Text()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def nasty_preset(tmp_path_factory):
    """The demo preset with hostile text in every place text can go, loaded as an organizer's."""
    raw = yaml.safe_load((ROOT / "presets" / "demo.yaml").read_text())
    raw["title"] = f"Preset {NASTY}"
    task = raw["tasks"][0]
    task["title"] = NASTY
    task["description"] = f"1. {MARKUP}\n- {NASTY}"
    task["scenarios"][0]["label"] = f"| {MARKUP}"
    raw["tasks"][1].pop("description")
    path = tmp_path_factory.mktemp("nasty") / "nasty.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    return load_preset(path)


@pytest.mark.parametrize("render", [render_codalab_yaml, render_codabench_yaml])
def test_titles_and_descriptions_round_trip_through_competition_yaml(nasty_preset, render):
    task = nasty_preset.tasks[0]
    rendered = yaml.safe_load(render(nasty_preset, task))
    assert rendered["title"] == f"Preset {NASTY} — {NASTY}"
    assert rendered["description"] == f"1. {MARKUP}\n- {NASTY}"
    assert {k: rendered[k] for k in ("title", "description")} == competition_texts(
        nasty_preset, task
    )


@pytest.mark.parametrize("render", [render_codalab_yaml, render_codabench_yaml])
def test_a_task_without_description_gets_its_title(nasty_preset, render):
    task = nasty_preset.tasks[1]
    rendered = yaml.safe_load(render(nasty_preset, task))
    assert rendered["description"] == rendered["title"] == f"Preset {NASTY} — {task.title}"


def test_preset_text_appears_escaped_and_exact_in_the_html_pages(nasty_preset):
    task = nasty_preset.tasks[0]
    pages = render_markdown_pages(nasty_preset, task)
    overview = html_page("Overview", pages["overview"])
    assert "<script>" not in overview and "<b>" not in overview
    shown = _shown(overview)
    blocks = dict(shown.blocks[::-1])  # the first of each kind
    assert blocks["h1"] == f"Preset {NASTY} — {NASTY}"
    description = [text for tag, text in shown.blocks if tag == "p" and MARKUP in text]
    assert description == [f"1. {MARKUP} - {NASTY}"]  # one paragraph, no list
    assert f"| {MARKUP}" in [text for tag, text in shown.blocks if tag == "td"]
    # The page's own markup survives; the preset's adds no element (no em, code, img, a, del).
    assert not {"script", "b", "img", "a", "del", "ol", "ul"} & set(shown.tags)
    evaluation = _shown(html_page("Evaluation", pages["evaluation"]))
    cells = [text for tag, text in evaluation.blocks if tag == "td"]
    assert f"| {MARKUP} TPR@0.1FPR" in cells  # the leaderboard column titled by the label


def test_codabench_markdown_pages_carry_no_raw_markup_from_the_preset(nasty_preset):
    # Codabench renders the .md pages itself (KaTeX for $...$, then marked): the preset's
    # characters must reach it as character references only.
    pages = render_markdown_pages(nasty_preset, nasty_preset.tasks[0])
    for text in pages.values():
        for raw in ("<script>", "$x^2$", "*em*", "~~s~~", "[link]", "`code`", "\\epsilon"):
            assert raw not in text


def test_the_html_page_title_is_escaped():
    page = html_page("<Overview & more>", "text")
    assert "<title>&lt;Overview &amp; more&gt;</title>" in page


@pytest.mark.parametrize(
    "text",
    [
        NASTY,
        MARKUP,
        "# heading?",
        "- not a list",
        "+ not a list",
        "12) not a list",
        "3. not a list",
        "=== not an underline",
        "a | b | c",
        "trailing hashes ##",
        "entity &lt; stays text",
        "tab\tand\nbreak",
    ],
)
def test_markdown_text_renders_as_exactly_the_text(text):
    import markdown

    html = markdown.markdown(markdown_text(text), extensions=["tables", "fenced_code"])
    shown = _shown(html)
    assert shown.tags == ["p"] and shown.blocks == [("p", " ".join(text.split()))]
