"""Factories for valid customers with realistic, checksum-correct identifiers.

Deterministic for a given ``seed`` so tests and benchmarks are repeatable.
"""

from __future__ import annotations

import datetime
import random

import pendulum

from finance_crm.model.customers import (
    Channel,
    CorporateCustomer,
    IndividualCustomer,
    LegalRepresentative,
    LifecycleStatus,
    MarketingConsent,
    RiskLevel,
)
from finance_crm.model.documents import (
    IdDocumentType,
    IdentityDocument,
    Phone,
    make_resident_id,
    make_unified_social_credit_code,
)
from finance_crm.money import Money

__all__ = ["OPENED_AT", "make_corporate", "make_individual", "resident_id_for"]

OPENED_AT = pendulum.datetime(2025, 1, 2, 9, 30, tz="UTC")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
_REGIONS = ("110105", "310104", "440305", "330106", "510107", "320102")


def resident_id_for(seed: int) -> tuple[str, datetime.date]:
    """A valid resident ID number and the birth date it encodes."""
    rng = random.Random(seed)
    born = datetime.date(1950, 1, 1) + datetime.timedelta(days=rng.randrange(0, 365 * 55))
    return make_resident_id(rng.choice(_REGIONS), born, seed % 1000), born


def make_individual(
    seed: int = 1,
    *,
    customer_number: str | None = None,
    status: LifecycleStatus = LifecycleStatus.ACTIVE,
    at: datetime.datetime = OPENED_AT,
) -> IndividualCustomer:
    """An individual customer with a resident ID, a mobile phone and an SMS consent."""
    rng = random.Random(seed)
    number, born = resident_id_for(seed)
    return IndividualCustomer.open(
        customer_number=customer_number or f"P{seed:09d}",
        name=rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.randint(1, 2))),
        at=at,
        status=status,
        identity_documents=[IdentityDocument(type=IdDocumentType.RESIDENT_ID, number=number)],
        birthday=born,
        phones=[Phone(number=f"13{rng.randrange(10**9):09d}")],
        risk_level=RiskLevel(rng.randint(1, 5)),
        preferred_channels=[Channel.PHONE, Channel.WECHAT],
        consents=[MarketingConsent(channel=Channel.SMS, valid_from=datetime.date(2025, 1, 1))],
        tags=["retail"],
        custom_attributes={"segment": rng.choice(["mass", "affluent", "private"])},
    )


def make_corporate(
    seed: int = 1,
    *,
    customer_number: str | None = None,
    at: datetime.datetime = OPENED_AT,
) -> CorporateCustomer:
    """A small company with a unified social credit code and a legal representative."""
    number, _ = resident_id_for(seed + 7_000_000)
    return CorporateCustomer.open(
        customer_number=customer_number or f"E{seed:09d}",
        legal_name=f"示例科技有限公司{seed}",
        at=at,
        identity_documents=[
            IdentityDocument(
                type=IdDocumentType.UNIFIED_SOCIAL_CREDIT_CODE,
                number=make_unified_social_credit_code(seed),
            )
        ],
        legal_representative=LegalRepresentative(
            name="李四",
            identity_document=IdentityDocument(type=IdDocumentType.RESIDENT_ID, number=number),
        ),
        industry="C3911",
        registered_capital=Money.of("5000000.00", "CNY"),
    )
