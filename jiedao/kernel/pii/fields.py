"""A thin encrypted text field on `cryptography` (the fernet-field libraries are unmaintained)."""

from django.db import models

from . import crypto


class EncryptedTextField(models.TextField):
    """Stores ciphertext; Python sees plaintext. Not searchable: use the blind index column."""

    description = "Encrypted text"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return crypto.decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(value)

    def get_lookup(self, lookup_name):
        # Ciphertext is randomised: any lookup but isnull would silently never match.
        if lookup_name not in {"isnull", "exact"}:
            raise TypeError(f"encrypted field {self.name!r} supports only isnull; search the blind index")
        return super().get_lookup(lookup_name)
