"""Every code block of the migration pages runs (the TOPCAT/DS9 page: tests/apps)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.doc_blocks import DOCS, code_blocks, run_page

PAGES = ["migration.rst", "compat/hub.rst", "compat/clients.rst", "compat/embed.rst"]


@pytest.mark.parametrize("page", PAGES)
def test_page_runs(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert code_blocks(DOCS / page), f"{page} has no code blocks"
    run_page(DOCS / page)


def test_no_page_with_blocks_is_left_out() -> None:
    run_elsewhere = {"compat/table_image.rst"}
    pages = {str(p.relative_to(DOCS)) for p in (DOCS / "compat").glob("*.rst")}
    assert pages | {"migration.rst"} == set(PAGES) | run_elsewhere
