"""The documentation: Sphinx builds ``docs/`` with no warning, and the CLI reference is current."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from planner.cli import main
from planner.cli.docs import cli_reference, iter_commands

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

GUIDES = ("planner", "official", "field-staff", "analyst")
#: The public API's modules (besides the top level) that the API reference must hold.
API_MODULES = (
    "store",
    "postgis",
    "schema",
    "settings",
    "grids",
    "coverage",
    "siting",
    "topology",
    "edge_areas",
    "households",
    "plan_versions",
    "plan_edit",
    "dashboard",
    "network",
    "pipeline",
    "batch",
    "errors",
)
#: Pages every build must have: the guides in both languages and the references.
PAGES = [
    "index",
    *(f"{lang}/{user}" for lang in ("zh", "en") for user in GUIDES),
    "rules",
    "cli",
    "data-model",
    "api/index",
    "api/planner",
    *(f"api/{module}" for module in API_MODULES),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "html"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q"]
        + [str(DOCS), str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    return out


def test_docs_build_without_warnings_and_have_every_page(built):
    for page in PAGES:
        assert (built / f"{page}.html").is_file(), page


def test_api_reference_documents_every_public_name(built):
    """Every name of ``planner._EXPORTS`` is in the top-level table, linked to its
    documentation on its module's page (so a new export needs its module's page)."""
    import planner

    top = (built / "api" / "planner.html").read_text(encoding="utf-8")
    for name, module in planner._EXPORTS.items():
        page = module.split(".")[1]
        assert f'href="{page}.html#{module}.{name}"' in top, name
        text = (built / "api" / f"{page}.html").read_text(encoding="utf-8")
        assert f'id="{module}.{name}"' in text, (name, page)
    for module in API_MODULES:
        text = (built / "api" / f"{module}.html").read_text(encoding="utf-8")
        assert f'id="module-planner.{module}"' in text, module


def test_guides_show_screenshots_that_exist(built):
    shown = set()
    for lang in ("zh", "en"):
        for page in (DOCS / lang).glob("*.md"):
            shown |= set(re.findall(r"_static/screenshots/([\w-]+\.png)", page.read_text("utf-8")))
    assert shown, "the guides show no screenshot"
    for name in shown:
        assert (built / "_images" / name).is_file() or (
            built / "_static" / "screenshots" / name
        ).is_file(), name


def test_no_page_loads_anything_from_another_site(built):
    # The docs are read offline too: no script, style sheet or image from the internet.
    for page in built.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r'<(?:script|link|img)[^>]+(?:src|href)="https?://', text), page


def test_cli_reference_page_is_current():
    committed = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert committed == cli_reference(), (
        "docs/cli.md is out of date: python -m planner.cli.docs > docs/cli.md"
    )


def test_cli_reference_lists_every_command_option_and_what_it_writes():
    page = cli_reference()
    for ctx, command in iter_commands():
        names, level = [], ctx
        while level is not None:
            names.insert(0, level.info_name)
            level = level.parent
        path = " ".join(names)  # "planner plan list"
        assert f"## `{path}`" in page, path
        assert getattr(command, "writes", ""), f"{path} does not say what it writes"
        for param in command.params:
            if isinstance(param, click.Option) and "--help" not in param.opts:
                flag = param.get_help_record(ctx)[0].replace("|", "\\|")  # as in a table cell
                assert f"`{flag}`" in page, (path, param.opts)


def test_cli_reference_refuses_a_command_that_does_not_say_what_it_writes():
    @main.command("undocumented-test-command")
    def undocumented() -> None:
        """A command added without @writes."""

    try:
        with pytest.raises(RuntimeError, match="does not say what it writes"):
            cli_reference()
    finally:
        main.commands.pop("undocumented-test-command")
