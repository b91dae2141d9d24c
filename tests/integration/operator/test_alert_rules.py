"""The chart's PrometheusRule checked by Prometheus's own tool: `promtool check rules` on what
the chart renders, and `promtool test rules` with a unit test for every alert."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.paths import REPO

helm = pytest.importorskip("helm_python", reason="dev extra: helm-python-sdk")

CHART = REPO / "charts" / "codeinstruct"
TESTS = Path(__file__).parent / "alerts" / "codeinstruct.test.yaml"


def rendered_rules(values: dict[str, Any] | None = None) -> dict[str, Any]:
    chart = helm.Chart.load(str(CHART))
    values = {"metrics": {"prometheusRule": {"enabled": True}}} | (values or {})
    out = chart.render(values, name="ci", namespace="codeinstruct-system")
    text = next(t for path, t in out.items() if path.endswith("prometheusrule.yaml"))
    return {"groups": yaml.safe_load(text)["spec"]["groups"]}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "scripts/install.sh installs the Debian package `prometheus` (promtool)"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120)


def test_promtool_checks_the_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(rendered_rules()))
    result = promtool("check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout + result.stderr


def test_promtool_unit_tests_cover_every_alert(tmp_path: Path) -> None:
    rules = rendered_rules()
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    shutil.copy(TESTS, tmp_path / TESTS.name)
    alerts = {r["alert"] for group in rules["groups"] for r in group["rules"]}
    cases = yaml.safe_load(TESTS.read_text())["tests"]
    tested = {t["alertname"] for case in cases for t in case["alert_rule_test"] if t["exp_alerts"]}
    silent = {
        t["alertname"] for case in cases for t in case["alert_rule_test"] if not t["exp_alerts"]
    }
    assert tested == alerts, f"alerts without a firing test: {alerts - tested}"
    assert silent == alerts, f"alerts without a near-miss test: {alerts - silent}"
    result = promtool("test", "rules", str(tmp_path / TESTS.name))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_rule_is_caught(tmp_path: Path) -> None:
    """The check is real: promtool rejects an expression the chart could have shipped."""
    rules = rendered_rules()
    rules["groups"][0]["rules"][0]["expr"] = "sum by (namespace (codeinstruct_dataset_phase)"
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    assert promtool("check", "rules", str(tmp_path / "rules.yaml")).returncode != 0
