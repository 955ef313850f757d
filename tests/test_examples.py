"""The examples run and print what they promise."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


def _run(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_quickstart(tmp_path: Path) -> None:
    out = _run("quickstart.py", str(tmp_path / "branch.db"))
    assert "138****5678" in out
    assert "13812345678" not in out
    assert "ConflictError" in out
    assert "customer.revised" in out
    assert "Final: version 3, occupation 'engineer'" in out
    assert (tmp_path / "branch.db").exists()


@pytest.mark.slow
def test_import_bank_marketing(tmp_path: Path) -> None:
    out = _run("import_bank_marketing.py", str(tmp_path / "bank.db"))
    assert "rows read 45,211; imported 45,211; rejected 0" in out
    assert "stored 45,211 prospects, 45,211 audit records; 5,289 subscribed" in out
