"""The pager's iterators are async generators, so ``aclosing(...)`` and ``aclose()`` type check."""

import inspect
from pathlib import Path

import pytest

from .test_pagination import FakeList, pager

USAGE = Path(__file__).parent.parent / "typing" / "pager_usage.py"


@pytest.mark.parametrize("prefetch", [False, True])
def test_pages_and_items_are_async_generators(prefetch):
    p = pager(FakeList(), prefetch=prefetch)
    assert inspect.isasyncgen(p.pages()) and inspect.isasyncgen(aiter(p))


def test_aclosing_and_aclose_pass_mypy_strict(tmp_path):
    api = pytest.importorskip("mypy.api")
    out, err, status = api.run(
        ["--strict", "--follow-imports=silent", "--cache-dir", str(tmp_path), str(USAGE)]
    )
    assert status == 0, out + err
