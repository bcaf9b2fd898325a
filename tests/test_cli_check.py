"""``alttext check`` end to end: formats, exit codes, configuration precedence."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write

from alttext.cli import main
from alttext.config import Config, load_config
from alttext.errors import ConfigError
from alttext.rules.model import Severity

PAGE = (
    '<html lang="en"><body><img src="a.png">'  # image-alt (error)
    '<img src="b.png" alt="Photo of a cat">'  # alt-redundant-prefix (warning)
    '<img src="c.png" alt="">'  # alt-decorative-review (info)
    "</body></html>"
)


@pytest.fixture
def site_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "site" / "index.html", PAGE)
    write(tmp_path / "site" / "docs" / "ok.html", '<img src="x.png" alt="A chart of sales">')
    return tmp_path / "site"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_text_output_and_default_exit(site_dir: Path) -> None:
    code, out = run("check", str(site_dir))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == (
        "index.html:1:23: error image-alt Image has no alt attribute and no other "
        "accessible name [a.png]"
    )
    assert lines[-1] == "2 files, 4 images: 1 error, 1 warning, 1 info"
    assert "\x1b[" not in out  # not a TTY: no colour


@pytest.mark.parametrize(
    ("fail_on", "code"), [("error", 1), ("warning", 1), ("info", 1), ("never", 0)]
)
def test_fail_on_thresholds(site_dir: Path, fail_on: str, code: int) -> None:
    assert run("check", str(site_dir), "--fail-on", fail_on)[0] == code


def test_exit_zero_when_only_below_threshold(tmp_path: Path) -> None:
    write(tmp_path / "p.html", '<img src="b.png" alt="Photo of a cat">')
    assert run("check", str(tmp_path))[0] == 0
    assert run("check", str(tmp_path), "--fail-on", "warning")[0] == 1


def test_json_contract(site_dir: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "r.json"
    code, _ = run("check", str(site_dir), "--format", "json", "-o", str(out_file))
    assert code == 1
    doc = json.loads(out_file.read_text(encoding="utf-8"))
    assert doc["version"] == 1
    assert doc["summary"] == {"files": 2, "images": 4, "errors": 1, "warnings": 1, "infos": 1}
    first = doc["findings"][0]
    assert first == {
        "file": "index.html",
        "line": 1,
        "column": 23,
        "rule": "image-alt",
        "severity": "error",
        "message": "Image has no alt attribute and no other accessible name",
        "element": "img",
        "src": "a.png",
        "snippet": '<img src="a.png">',
    }
    assert doc["errors"] == []


def test_unreadable_file_is_reported_and_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "bad.html").write_bytes(b"<img src=a>\xff")
    write(tmp_path / "good.html", "<img src=b>")
    code, out = run("check", str(tmp_path), "--format", "json")
    doc = json.loads(out)
    assert code == 1
    assert doc["errors"][0]["file"] == "bad.html" and "utf-8" in doc["errors"][0]["message"]
    assert [f["file"] for f in doc["findings"]] == ["good.html"]


def test_usage_and_config_errors_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("check")[0] == 2
    assert run("check", str(tmp_path / "missing"))[0] == 2
    assert run("check", str(tmp_path), "--fail-on", "bogus")[0] == 2
    write(tmp_path / "alttext.toml", "colour = true\n")
    code, out = run("check", str(tmp_path))
    assert code == 2 and "unknown key 'colour'" in out


def test_config_precedence_cli_over_file_over_default(site_dir: Path, tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.alttext]\nfail_on = "never"\n')
    assert run("check", str(site_dir))[0] == 0  # file says never
    assert run("check", str(site_dir), "--fail-on", "error")[0] == 1  # flag wins
    # alttext.toml beside pyproject.toml wins over it.
    write(tmp_path / "alttext.toml", 'fail_on = "error"\n[rules]\nimage-alt = "off"\n')
    assert run("check", str(site_dir))[0] == 0  # image-alt off: only warning/info left
    explicit = write(tmp_path / "other.toml", '[rules]\nimage-alt = "warning"\n')
    code, out = run("check", str(site_dir), "--config", str(explicit), "--fail-on", "warning")
    assert code == 1 and "warning image-alt" in out


def test_config_file_found_upward_and_paths_relative_to_it(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.alttext]\nsite_root = "public"\nexclude = ["a/*"]\n')
    (tmp_path / "deep" / "er").mkdir(parents=True)
    config = load_config(cwd=tmp_path / "deep" / "er")
    assert config.site_root == (tmp_path / "public").resolve()
    assert config.exclude == ("a/*",)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("max_length = 'long'", "wrong type"),
        ("jobs = true", "wrong type"),
        ("[rules]\nno-such-rule = 'error'", "unknown rule 'no-such-rule'"),
        ("[rules]\nimage-alt = 'fatal'", "unknown severity"),
        ("fail_on = 'sometimes'", "fail_on must be one of"),
        ("max_length = 5", "at least 20"),
        ("this is not toml", "invalid TOML"),
    ],
)
def test_config_errors_name_the_problem(tmp_path: Path, toml: str, message: str) -> None:
    path = write(tmp_path / "alttext.toml", toml)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_config_defaults_and_rule_settings() -> None:
    config = Config()
    assert config.threshold() is Severity.ERROR and config.backend == "offline"
    assert Config(fail_on="never").threshold() is None
    assert config.merged(max_length=80).rule_settings().max_length == 80


def test_exclude_and_max_length_flags(site_dir: Path) -> None:
    code, out = run("check", str(site_dir), "--exclude", "index.html")
    assert code == 0 and out.splitlines()[-1].startswith("1 file, 1 image")
    write(site_dir / "long.html", f'<img src=a alt="{"word " * 10}">')
    _, out = run("check", str(site_dir), "--max-length", "30", "--fail-on", "never")
    assert "alt-too-long Alt text is 49 characters long (limit 30)" in out


def test_python_dash_m_and_help_examples(site_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "alttext", "check", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "Examples:" in proc.stdout and "--fail-on" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "alttext", "check", str(site_dir), "--format", "json"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and json.loads(proc.stdout)["summary"]["errors"] == 1
