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


def test_corporate_group(tmp_path: Path) -> None:
    out = _run("corporate_group.py", str(tmp_path / "group.db"))
    assert "ultimate parent: 华东精密控股有限公司" in out
    assert "王建国" not in out  # persons' names are masked for head office
    assert "customers held: 3 of 5 members" in out
    assert "total AUM 16560000.00 CNY, loans 17000000.00 CNY" in out
    assert "of which to parties outside the group 2000000.00 CNY" in out
    assert "effective share 42.84% (cycles cut: 1)" in out
    assert "2025-09-01: 4 members; trading company in the group: False" in out
    assert out.count("BusinessRuleViolation") == 2


def test_import_gleif() -> None:
    out = _run("import_gleif.py")
    assert "stored: 24 parties, 11 relationships" in out
    assert "MONEYTECH GROUP LIMITED" in out


def test_branch_day(tmp_path: Path) -> None:
    out = _run("branch_day.py", str(tmp_path / "branch.db"))
    assert "rows read 8, loaded 7, rejected 1" in out
    assert "evaluated 12, up 2, down 2, unchanged 8" in out
    assert "TierChanged P2001: one_to_one -> standardised (down, average 407391.30)" in out
    assert "TierChanged P2002: standardised -> one_to_one (up, average 871739.13)" in out
    assert "P2012 keeps one_to_one (since 2025-07-01) at a Q3 average of 460000.00" in out
    assert "2025-10-09 due     P2001 Birthday greeting, 3 days before, covering for RM01" in out
    assert "tier_contact     done  due 2025-10-14" in out
    assert "follow_up        open  due 2025-10-13" in out
    assert "tier one_to_one since 2025-10-01" in out
    assert "fed 2 transactions of 8 October and 4 contribution figures" in out
    assert "2025-10-10 due     P2005 Large transaction: contact within 2 business days" in out
    assert "contribution this year 6024.70 CNY" in out
    assert "escalated 10 tasks" in out
    assert "team     BJ-W2  due 11, met  1, overdue 10: 9%" in out
    assert "钱多多" not in out  # names are masked for the managers
    assert "wrote RM02-week.ics: 2 events" in out
    assert (tmp_path / "RM02-week.ics").read_bytes().startswith(b"BEGIN:VCALENDAR")
