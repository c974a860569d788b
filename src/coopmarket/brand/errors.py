"""Refusals of brand licensing, each with a stable ``code`` (licence records' own are in coops)."""

from __future__ import annotations

from coopmarket.core.errors import Conflict, ValidationFailed


class CertificationMissing(Conflict):
    """A product of the licence lacks a required certificate for (part of) the licence's term."""

    default_code = "certification_missing"


class InvalidLicenceProducts(ValidationFailed):
    default_code = "invalid_licence_products"


class InvalidLicenceTerm(ValidationFailed):
    default_code = "invalid_licence_term"
