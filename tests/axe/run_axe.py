"""Run the real axe-core on HTML case pages in one headless Chromium launch.

Every case page is loaded as the ``srcdoc`` of an iframe inside one generated harness page;
the harness evaluates ``axe.min.js`` inside each frame, runs the selected rules on that
frame's document, and writes every verdict into the harness DOM, which Chromium prints
with ``--dump-dom``. No WebDriver, no network: the pages and axe travel inside the harness.

Verdicts are reported per element, keyed by the element's ``data-case-id`` attribute, so a
page may hold several cases. Run it by hand to see what axe says about a page::

    python tests/axe/run_axe.py tests/axe/cases/image-alt.html
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: The axe rules alttext reuses, with axe's verdicts.
AXE_RULES: tuple[str, ...] = (
    "image-alt",
    "input-image-alt",
    "area-alt",
    "role-img-alt",
    "svg-img-alt",
    "object-alt",
    "image-redundant-alt",
    "link-name",
    "button-name",
)

HERE = Path(__file__).resolve().parent
AXE_JS = HERE / "node_modules" / "axe-core" / "axe.min.js"
CASE_ATTR = "data-case-id"

_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_RESULT = re.compile(r'<pre id="axe-results"[^>]*>([A-Za-z0-9+/=]*)</pre>')

# The harness script. Frames run one after another: each gets its own copy of axe, so a
# case cannot see another case's DOM, and axe's verdicts are exactly those for that page.
_HARNESS_JS = r"""
(async () => {
  const out = {};
  for (const [name, html] of CASES) {
    const frame = document.createElement('iframe');
    frame.style.width = '1000px';
    frame.style.height = '800px';
    const loaded = new Promise((resolve) => frame.addEventListener('load', resolve, {once: true}));
    frame.srcdoc = html;
    document.body.appendChild(frame);
    const page = {verdicts: [], untagged: [], error: null};
    try {
      await loaded;
      const win = frame.contentWindow;
      win.eval(AXE_SOURCE);
      page.version = win.axe.version;
      const res = await win.axe.run(win.document, {
        runOnly: {type: 'rule', values: RULES},
        elementRef: true,
      });
      for (const kind of ['violations', 'passes', 'incomplete']) {
        for (const rule of res[kind]) {
          for (const node of rule.nodes) {
            const el = node.element;
            const id = el && el.getAttribute ? el.getAttribute(CASE_ATTR) : null;
            if (id === null) {
              page.untagged.push({rule: rule.id, verdict: kind, html: node.html,
                                  target: node.target});
            } else {
              page.verdicts.push({id: id, rule: rule.id, verdict: kind});
            }
          }
        }
      }
    } catch (err) {
      page.error = String(err && err.stack || err);
    }
    out[name] = page;
    frame.remove();
  }
  const json = JSON.stringify(out);
  const bytes = new TextEncoder().encode(json);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  const pre = document.getElementById('axe-results');
  pre.textContent = btoa(binary);
})();
"""

#: axe's verdict kinds as this module names them.
VIOLATION, PASS, INCOMPLETE = "violation", "pass", "incomplete"
_KINDS = {"violations": VIOLATION, "passes": PASS, "incomplete": INCOMPLETE}


class AxeRunError(RuntimeError):
    """Chromium or axe did not produce results (the message carries Chromium's stderr)."""


@dataclass(frozen=True, slots=True)
class PageResult:
    """axe's verdicts for one case page.

    Attributes:
        verdicts: ``(case id, rule) -> "violation" | "pass" | "incomplete"``; a pair that
            is absent means the rule does not apply to that element.
        untagged: results on elements without a ``data-case-id`` (``rule``, ``verdict``,
            ``html``), which the corpus should not produce.
        axe_version: the version of axe that ran.
    """

    verdicts: dict[tuple[str, str], str]
    untagged: list[dict[str, str]] = field(default_factory=list)
    axe_version: str = ""


def find_chromium() -> str | None:
    """The Chromium (or Chrome) executable: ``$CHROMIUM`` or the first one on ``PATH``."""
    env = os.environ.get("CHROMIUM")
    if env:
        return shutil.which(env) or (env if Path(env).is_file() else None)
    for name in _CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _js_literal(value: object) -> str:
    # JSON is a JS literal; "</" is escaped so no string can close the <script> element.
    return json.dumps(value).replace("</", "<\\/")


def build_harness(pages: Mapping[str, str], axe_source: str, rules: Sequence[str]) -> str:
    """The harness page that runs axe over ``pages`` (name -> HTML text)."""
    constants = (
        f"const AXE_SOURCE = {_js_literal(axe_source)};\n"
        f"const CASES = {_js_literal(sorted(pages.items()))};\n"
        f"const RULES = {_js_literal(list(rules))};\n"
        f"const CASE_ATTR = {_js_literal(CASE_ATTR)};\n"
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>axe harness</title>'
        '</head><body><pre id="axe-results"></pre>\n'
        f"<script>\n{constants}{_HARNESS_JS}</script>\n</body></html>\n"
    )


def run_axe(
    pages: Mapping[str, str],
    *,
    chromium: str,
    axe_js: Path = AXE_JS,
    rules: Sequence[str] = AXE_RULES,
    timeout: float = 90.0,
) -> dict[str, PageResult]:
    """Run axe on every page in one Chromium launch and return its verdicts by page name.

    Raises:
        AxeRunError: Chromium failed, timed out, or printed no results, or axe threw on a page.
    """
    axe_source = axe_js.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="alttext-axe-") as tmp:
        harness = Path(tmp, "harness.html")
        harness.write_text(build_harness(pages, axe_source, rules), encoding="utf-8")
        command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--mute-audio",
            f"--user-data-dir={Path(tmp, 'profile')}",
            "--virtual-time-budget=60000",
            "--dump-dom",
            harness.as_uri(),
        ]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise AxeRunError(f"chromium did not finish within {timeout:.0f} s") from exc
    match = _RESULT.search(proc.stdout)
    if match is None or not match.group(1):
        tail = proc.stderr.strip()[-2000:]
        raise AxeRunError(f"chromium printed no axe results (exit {proc.returncode}):\n{tail}")
    raw: dict[str, dict[str, object]] = json.loads(base64.b64decode(match.group(1)))
    results: dict[str, PageResult] = {}
    for name, page in raw.items():
        if page.get("error"):
            raise AxeRunError(f"axe failed on {name}: {page['error']}")
        verdicts: dict[tuple[str, str], str] = {}
        entries = page.get("verdicts")
        assert isinstance(entries, list)
        for entry in entries:
            verdicts[(entry["id"], entry["rule"])] = _KINDS[entry["verdict"]]
        untagged = page.get("untagged")
        assert isinstance(untagged, list)
        results[name] = PageResult(verdicts, untagged, str(page.get("version", "")))
    return results


def main(argv: Sequence[str]) -> int:
    """Print axe's verdicts for the given case pages (default: the whole corpus)."""
    chromium = find_chromium()
    if chromium is None or not AXE_JS.is_file():
        print("needs chromium on PATH and `npm ci` in tests/axe", file=sys.stderr)
        return 2
    paths = [Path(a) for a in argv] or sorted((HERE / "cases").glob("*.html"))
    pages = {p.name: p.read_text(encoding="utf-8") for p in paths}
    for name, result in sorted(run_axe(pages, chromium=chromium).items()):
        print(f"{name} (axe {result.axe_version})")
        for (case, rule), verdict in sorted(result.verdicts.items()):
            print(f"  {case:32} {rule:22} {verdict}")
        for item in result.untagged:
            print(f"  UNTAGGED {item['rule']} {item['verdict']}: {item['html']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
