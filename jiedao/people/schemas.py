"""API shapes of the people registry: personal fields leave only masked."""

import datetime as dt

from ninja import Schema
from pydantic import Field

from jiedao.kernel.pii.masking import mask_address, mask_id_number, mask_phone


class PersonOut(Schema):
    id: int
    name: str
    id_number_masked: str
    phone_masked: str
    address_masked: str
    compound_id: int | None
    compound_name: str
    sex: str
    birth_year: int | None
    residence_type: str
    registered_on: dt.date | None
    version: int

    # Resolvers see the Person, or the stored dict when an idempotent create is replayed.
    @staticmethod
    def resolve_id_number_masked(obj):
        return obj["id_number_masked"] if isinstance(obj, dict) else mask_id_number(obj.id_number)

    @staticmethod
    def resolve_phone_masked(obj):
        return obj["phone_masked"] if isinstance(obj, dict) else mask_phone(obj.phone)

    @staticmethod
    def resolve_address_masked(obj):
        return obj["address_masked"] if isinstance(obj, dict) else mask_address(obj.address)

    @staticmethod
    def resolve_compound_name(obj):
        if isinstance(obj, dict):
            return obj["compound_name"]
        return obj.compound.name if obj.compound_id else ""


class PersonIn(Schema):
    name: str = Field(min_length=1, max_length=64)
    id_number: str = Field("", max_length=32)
    phone: str = Field("", max_length=32)
    address: str = Field("", max_length=200)
    compound_id: int | None = None
    residence_type: str = "resident"
    registered_on: dt.date | None = None
    notes: str = Field("", max_length=2000)


class PersonPatch(Schema):
    version: int
    name: str | None = Field(None, min_length=1, max_length=64)
    id_number: str | None = Field(None, max_length=32)
    phone: str | None = Field(None, max_length=32)
    address: str | None = Field(None, max_length=200)
    compound_id: int | None = None
    residence_type: str | None = None
    registered_on: dt.date | None = None
    notes: str | None = Field(None, max_length=2000)


class RevealIn(Schema):
    field: str = Field(pattern="^(id_number|phone|address)$")
    reason: str = Field(min_length=2, max_length=500)


class RevealOut(Schema):
    field: str
    value: str


class ImportErrorOut(Schema):
    row: int
    column: str
    message: str


class ImportReportOut(Schema):
    rows_total: int
    rows_valid: int
    created: int
    committed: bool
    errors: list[ImportErrorOut]
