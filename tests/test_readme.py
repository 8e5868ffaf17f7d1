"""The README's code runs as written (training shortened to one epoch)."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run():
    if not README.exists():
        pytest.skip(f"README not found at {README}")
    text = README.read_text()
    assert text.splitlines()[3:5] == ["pip install . && xbar demo", "pip install '.[test]' && pytest"]
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 2
    code = "\n".join(blocks)
    assert "epochs=30" in code
    namespace: dict = {}
    exec(compile(code.replace("epochs=30", "epochs=1"), str(README), "exec"), namespace)
    assert namespace["y"].shape == (32, 256)
    acc = namespace["acc"]
    assert acc.shape == (5,) and all(0.0 <= a <= 1.0 for a in acc)
