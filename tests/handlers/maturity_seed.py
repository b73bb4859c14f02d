"""Seeding maturing policies straight into the test database for the maturity handler tests."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from storage.models import Agent, Client, Policy
from tests.harness import Harness

# The harness clock's date in Shanghai.
TODAY = date(2026, 12, 3)


async def seed_policy(
    harness: Harness,
    agent: Agent,
    holder: str = "张三",
    days: int = 7,
    *,
    amount: Decimal | None = Decimal(50000),
    region: str | None = "city",
    trait: str | None = None,
    number: str | None = None,
    with_client: bool = True,
    **policy_fields: object,
) -> tuple[int, int | None]:
    """Store a policy maturing in ``days`` days and its holder; return their ids."""
    async with harness.db.session() as session:
        client_id = None
        if with_client:
            client = Client(
                agent_id=agent.id,
                name=holder,
                phone="13812345678",
                address="浙江省杭州市西湖区文三路1号",
                region=region,
                trait=trait,
                source="maturity",
            )
            session.add(client)
            await session.flush()
            client_id = client.id
        policy = Policy(
            agent_id=agent.id,
            client_id=client_id,
            policy_number=number or f"P-{agent.id}-{holder}-{days}",
            bank="工商银行",
            sum_insured=amount,
            maturity_date=TODAY + timedelta(days=days),
            holder_name=holder,
            **policy_fields,
        )
        session.add(policy)
        await session.flush()
        return policy.id, client_id
