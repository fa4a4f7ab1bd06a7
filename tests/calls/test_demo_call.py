"""seed-demo holds the 2026 call for projects, published, built once however often it runs."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from portal.calls.models import Call, CallStatus
from portal.db import utcnow
from portal.extensions import db
from portal.timeutil import format_offset, to_local


def test_seed_demo_creates_the_published_2026_call_once(app):
    runner = app.test_cli_runner()

    first = runner.invoke(args=["seed-demo"])
    second = runner.invoke(args=["seed-demo"])
    db.session.expire_all()

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert db.session.scalar(select(func.count()).where(Call.code == "AAP-2026")) == 1
    call = db.session.scalar(select(Call).where(Call.code == "AAP-2026"))
    # Published while its deadline is ahead; seeded after it, the call stays a draft.
    expected = CallStatus.PUBLISHED if utcnow() < call.closes_at else CallStatus.DRAFT
    assert call.status == expected
    assert call.title_ar.startswith("طلب عروض المشاريع لسنة 2026")
    assert call.closes_at == datetime(2027, 2, 15, 23, 59, tzinfo=UTC)
    assert format_offset(to_local(call.closes_at)) == "UTC+00:00"
    assert (call.budget_total, call.min_amount, call.max_amount) == (5_000_000, 50_000, 300_000)
    assert (call.min_cofunding_percent, call.max_duration_months) == (10, 12)
    assert (call.min_years_since_founding, call.max_applications_per_association) == (2, 1)
    assert len(call.lots) == 3
    assert all(lot.axes and lot.plan_projects for lot in call.lots)
    assert sum(lot.budget for lot in call.lots) == call.budget_total
    assert [criterion.weight for criterion in call.criteria] == [30, 25, 15, 20, 10]
    assert all(c.guidance_ar and c.guidance_fr for c in call.criteria)
    assert [document.code for document in call.documents] == [
        "statutes",
        "general-assembly-minutes",
        "financial-report",
        "bank-certificate",
        "activity-report",
    ]
    assert all(d.allowed_types == ["pdf"] and d.max_size_mb == 10 for d in call.documents)
    assert len(call.manual_checks) == 2
    assert "AAP-2026" in first.output and "AAP-2026" not in second.output
