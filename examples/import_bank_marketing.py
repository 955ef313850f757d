"""Import the UCI Bank Marketing data (45,211 telemarketing contacts) as prospects.

Shows the bulk import path on real data: a CSV reader streamed row by row, a bank's
own row reader (a rule object) mapping its columns, batches inside one unit of work,
and the per-row error report. The data has no names or ids, so each client becomes a
prospect (潜在客户) numbered by its row, with the campaign figures kept as custom
attributes. Data: examples/data/bank-full.csv, CC BY 4.0, Moro, Cortez and Rita (2014).

Run:  python examples/import_bank_marketing.py [path/to/branch.db]
"""

from __future__ import annotations

import csv
import datetime
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from finance_crm import (
    Actor,
    Channel,
    ImportMode,
    IndividualCustomer,
    LifecycleStatus,
    ValidationError,
    import_customers,
)
from finance_crm.adapters.sql import SqlStore

DATA = Path(__file__).parent / "data" / "bank-full.csv"
CHANNELS = {"cellular": [Channel.PHONE], "telephone": [Channel.PHONE]}


class BankMarketingRows:
    """The bank's row reader: one CSV row (plus its row number) to a prospect."""

    def customer_from_row(
        self, row: Mapping[str, Any], *, at: datetime.datetime
    ) -> IndividualCustomer:
        try:
            age = int(row["age"])
            balance = int(row["balance"])
        except (KeyError, ValueError):
            raise ValidationError("age and balance must be whole numbers", path="$.age") from None
        tags = ["campaign-2008"] + (["subscribed"] if row["y"] == "yes" else [])
        return IndividualCustomer.open(
            customer_number=f"BM{row['row']:05d}",
            name=f"Client {row['row']}",
            at=at,
            status=LifecycleStatus.PROSPECT,
            occupation=None if row["job"] == "unknown" else row["job"],
            preferred_channels=CHANNELS.get(row["contact"], []),
            tags=tags,
            custom_attributes={
                "age": age,
                "marital": row["marital"],
                "education": row["education"],
                "average_balance_eur": str(balance),  # money as text, never a float
                "housing_loan": row["housing"] == "yes",
                "personal_loan": row["loan"] == "yes",
                "in_default": row["default"] == "yes",
                "contacts_this_campaign": int(row["campaign"]),
                "previous_outcome": row["poutcome"],
            },
        )


def rows(path: Path) -> Iterator[dict[str, Any]]:
    """Stream the CSV: nothing holds the whole file in memory."""
    with path.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.DictReader(handle, delimiter=";"), start=1):
            yield {**row, "row": number}


def main(database: Path) -> None:
    store = SqlStore.from_url(f"sqlite:///{database}")
    store.upgrade_schema()
    started = time.perf_counter()
    with store.unit_of_work(Actor.system("bank-marketing-import")) as uow:
        report = import_customers(
            uow,
            rows(DATA),
            reader=BankMarketingRows(),
            mode=ImportMode.SKIP_BAD_ROWS,
            batch_size=2000,
        )
        uow.commit()
    seconds = time.perf_counter() - started
    with store.unit_of_work(Actor("analyst-1", roles={"head_office"}), read_only=True) as uow:
        stored = uow.customers.count()
        audited = len(uow.audit.entries(limit=100_000))
        sample = uow.customers.get_by_number("BM00001")
    subscribed = sum(1 for r in rows(DATA) if r["y"] == "yes")
    print(
        f"rows read {report.rows_read:,}; imported {report.imported:,}; "
        f"rejected {report.rejected_rows:,}"
    )
    print(
        f"stored {stored:,} prospects, {audited:,} audit records; "
        f"{subscribed:,} subscribed in the campaign"
    )
    print(f"took {seconds:.2f} s ({report.rows_read / seconds:,.0f} rows/s)")
    print(
        "first prospect:",
        sample.customer_number,
        sorted(sample.tags),
        sample.custom_attributes["average_balance_eur"],
        "EUR average balance",
    )
    for error in report.errors[:5]:
        print("  ", error)
    store.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        target = Path(sys.argv[1])
        target.unlink(missing_ok=True)
        main(target)
    else:
        with tempfile.TemporaryDirectory() as folder:
            main(Path(folder) / "branch.db")
