import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as chmac
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from jiedao.kernel.pii import crypto
from jiedao.people.models import Person


def test_raw_columns_hold_no_plaintext(town):
    person = town.people["p1"]
    with connection.cursor() as cur:
        cur.execute("SELECT id_number, phone, address, id_number_bidx FROM people_person WHERE id = %s", [person.pk])
        raw_id, raw_phone, raw_address, bidx = cur.fetchone()
    assert person.id_number not in raw_id and person.id_number[-6:] not in raw_id
    assert "13800000001" not in raw_phone
    assert "测试路" not in raw_address
    assert person.id_number not in bidx
    assert raw_id.startswith("a$t1$")


def test_same_value_encrypts_differently_each_time(settings):
    assert crypto.encrypt("13800000001") != crypto.encrypt("13800000001")


def test_sm4_cipher_and_sm3_index_round_trip():
    with override_settings(PII_CIPHER="SM4-GCM", PII_BLIND_INDEX_HASH="SM3"):
        token = crypto.encrypt("310110198001011234")
        assert token.startswith("s$")
        assert crypto.decrypt(token) == "310110198001011234"
        assert len(crypto.blind_index("id", "x")) == 32


def test_encrypted_fields_refuse_content_lookups(town):
    with pytest.raises(TypeError):
        list(Person.objects.filter(id_number__startswith="310"))


def test_key_rotation_reencrypts_and_old_key_still_reads(town, settings):
    new_key = "bmV3LWtleS0zMi1ieXRlcy1sb25nLS0tLS0tLS0tLS0="
    settings.PII_KEYS = f"t2:{new_key},{settings.PII_KEYS}"
    person = Person.objects.get(pk=town.people["p1"].pk)  # decrypts with the old key t1
    assert person.phone == "13800000001"
    call_command("rotate_pii_key")
    with connection.cursor() as cur:
        cur.execute("SELECT phone FROM people_person WHERE id = %s", [person.pk])
        assert cur.fetchone()[0].startswith("a$t2$")
    assert Person.objects.get(pk=person.pk).phone == "13800000001"


@override_settings(PII_BLIND_INDEX_HASH="SHA256")
def test_blind_index_is_the_hmac_hex_cut_to_32_characters():
    whole = hmac.new(crypto.keyring().blind_key, b"id:310110198001011234", hashlib.sha256).hexdigest()
    assert crypto.blind_index("id", "310110198001011234") == whole[:32]
    assert crypto.blind_indexer(chars=64)("id", "310110198001011234") == whole
    index = crypto.blind_indexer()  # the keyed state is copied per value: values do not leak into each other
    assert [index("phone", "13800000001"), index("phone", "13800000001")] == [crypto.blind_index("phone", "13800000001")] * 2
    assert index("id", "") == ""
    with override_settings(PII_BLIND_INDEX_HASH="SM3"):
        mac = chmac.HMAC(crypto.keyring().blind_key, hashes.SM3())
        mac.update(b"id:310110198001011234")
        assert crypto.blind_index("id", "310110198001011234") == mac.finalize().hex()[:32]


@pytest.mark.parametrize("cipher", ["AES-256-GCM", "SM4-GCM"])
def test_encrypt_many_round_trips_and_keeps_empty_values_empty(cipher):
    with override_settings(PII_CIPHER=cipher):
        values = ["310110198001011234", "", "测试路1号3室", "13800000001"]
        tokens = crypto.encrypt_many(values)
        assert tokens[1] == ""
        assert [crypto.decrypt(t) if t else "" for t in tokens] == values
        assert len({t[:20] for t in tokens if t}) == 3  # a nonce of its own each
