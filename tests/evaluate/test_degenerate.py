"""Degenerate responses: empty, no words, a phrase looping. Short answers and fluent text are not."""
import pytest

from stagewise.evaluate.degenerate import degenerate_reason


@pytest.mark.parametrize("text, reason", [
    ("", "empty"), ("   \n", "empty"), (None, "empty"),
    ("!!! ... 42 ???", "no words"),
    ("the the the the the the the the the the the the the", "token loop"),
    ("I can help. I can help. I can help. I can help. I can help. I can help.", "token loop"),
    ("No.", None),
    ("Sorry, I can't help with that request: it could hurt someone.", None),
    ("Mix flour, water and salt; knead for ten minutes and let it rest overnight before baking it hot.", None),
])
def test_degenerate_reason(text, reason):
    assert degenerate_reason(text) == reason
