"""The README's library example runs as shown, and its test command is what CI runs."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_python_examples_run(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples save model files
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 3
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "∂C_0/∂w_01^(2)" in out
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", out).group(1))
    assert accuracy > 0.95
    assert (tmp_path / "digits.safetensors").exists()
    assert "relu units are dead" in out and "learning-rate range test" in out


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    command = 'pip install -e ".[test]" && python -m pytest'
    assert command in readme
    assert command.replace("pip", "python -m pip", 1).replace("-e", "-q -e", 1) in ci
