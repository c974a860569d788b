"""Imports every slice's tables so that ``SQLModel.metadata`` is complete (Alembic, tests)."""

from sqlmodel import SQLModel

from coopmarket.accounts import models as accounts_models
from coopmarket.audit import models as audit_models
from coopmarket.coops import models as coops_models
from coopmarket.events import models as events_models
from coopmarket.idempotency import models as idempotency_models
from coopmarket.ledger import models as ledger_models
from coopmarket.orders import models as orders_models
from coopmarket.payments import models as payments_models
from coopmarket.products import models as products_models
from coopmarket.regions import models as regions_models
from coopmarket.reports import models as reports_models
from coopmarket.villages import models as villages_models

metadata = SQLModel.metadata

__all__ = [
    "accounts_models",
    "audit_models",
    "coops_models",
    "events_models",
    "idempotency_models",
    "ledger_models",
    "metadata",
    "orders_models",
    "payments_models",
    "products_models",
    "regions_models",
    "reports_models",
    "villages_models",
]
