"""The pager's iterators are async generators, so ``aclosing(...)`` and ``aclose()`` type check;
the usage files in ``tests/typing`` (pager, bulk narrowing, sync client) pass mypy --strict."""

import inspect
from pathlib import Path

import pytest

from .test_pagination import FakeList, pager

TYPING = Path(__file__).parent.parent / "typing"
USAGE = sorted(TYPING.glob("*.py"))


@pytest.mark.parametrize("prefetch", [False, True])
def test_pages_and_items_are_async_generators(prefetch):
    p = pager(FakeList(), prefetch=prefetch)
    assert inspect.isasyncgen(p.pages()) and inspect.isasyncgen(aiter(p))


@pytest.mark.parametrize("usage", USAGE, ids=lambda path: path.name)
def test_usage_passes_mypy_strict(tmp_path, usage):
    api = pytest.importorskip("mypy.api")
    out, err, status = api.run(
        ["--strict", "--follow-imports=silent", "--cache-dir", str(tmp_path), str(usage)]
    )
    assert status == 0, out + err
