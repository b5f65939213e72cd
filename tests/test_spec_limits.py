"""Hostile application files: deep nesting, aliases and size are refused in one line (CLI exit 2, HTTP
422), never a RecursionError or a 500."""

from __future__ import annotations

from pathlib import Path

import pytest

from overt.governance.spec import SpecError, parse_spec
from tests.governance_helpers import spec
from tests.test_api import make_site
from tests.test_cli import run

HOSTILE = {
    "deep": "name: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "deep-mapping": "".join(" " * i + f"k{i}:\n" for i in range(200)) + " " * 200 + "v\n",
    "aliases": "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b]\n",
    "big": "name: x\n" + "# padding\n" * 40_000,
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_yaml_is_one_line_spec_error(kind: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(HOSTILE[kind])
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200


def test_a_normal_application_still_parses() -> None:
    assert parse_spec(spec()).name == "Test deployment"


def test_deep_yaml_over_the_api_and_the_command_line(tmp_path: Path) -> None:
    site = make_site(tmp_path / "home")
    response = site.client.post("/api/deployments", content=HOSTILE["deep"],
                                headers={**site.auth("op"), "Content-Type": "application/yaml"})
    assert response.status_code == 422 and "nested deeper" in response.json()["error"]["message"]
    application = tmp_path / "deep.yaml"
    application.write_text(HOSTILE["deep"])
    result = run(tmp_path / "home", "deployment", "apply", str(application), user="op", check=False,
                 token=site.tokens["op"])
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "nested deeper" in result.stderr
