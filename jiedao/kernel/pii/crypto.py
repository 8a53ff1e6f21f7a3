"""Field encryption and the keyed blind index (DESIGN §4.4).

Ciphertext format: ``<cipher>$<key id>$<base64(nonce ‖ ciphertext ‖ tag)>``.
The key id lets `rotate_pii_key` re-encrypt row by row while old keys still
decrypt. AES-256-GCM is the default; SM4-GCM (with HMAC-SM3 for the blind
index) is there for 商用密码应用安全性评估 (密评).
"""

from __future__ import annotations

import base64
import binascii
import hmac as std_hmac
import os
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

CIPHER_TAGS = {"AES-256-GCM": "a", "SM4-GCM": "s"}


@dataclass(frozen=True)
class Keyring:
    current_id: str
    keys: dict[str, bytes]
    cipher: str
    blind_key: bytes
    blind_hash: str


def _decode_key(raw: str) -> bytes:
    key = base64.b64decode(raw)
    if len(key) != 32:
        raise ImproperlyConfigured("each JIEDAO_PII_KEYS key must be 32 bytes, base64-encoded")
    return key


@lru_cache(maxsize=4)
def _keyring(keys_setting: str, blind: str, cipher: str, blind_hash: str) -> Keyring:
    if not keys_setting or not blind:
        raise ImproperlyConfigured("JIEDAO_PII_KEYS and JIEDAO_BLIND_INDEX_KEY must be set")
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for part in keys_setting.split(","):
        key_id, _, raw = part.strip().partition(":")
        keys[key_id] = _decode_key(raw)
        order.append(key_id)
    if cipher not in CIPHER_TAGS:
        raise ImproperlyConfigured(f"JIEDAO_PII_CIPHER must be one of {sorted(CIPHER_TAGS)}")
    return Keyring(order[0], keys, cipher, base64.b64decode(blind), blind_hash.upper())


def keyring() -> Keyring:
    return _keyring(settings.PII_KEYS, settings.PII_BLIND_INDEX_KEY, settings.PII_CIPHER, settings.PII_BLIND_INDEX_HASH)


def _sm4_gcm_encrypt(key: bytes, nonce: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithms.SM4(key[:16]), modes.GCM(nonce)).encryptor()
    return enc.update(data) + enc.finalize() + enc.tag


def _sm4_gcm_decrypt(key: bytes, nonce: bytes, blob: bytes) -> bytes:
    ct, tag = blob[:-16], blob[-16:]
    dec = Cipher(algorithms.SM4(key[:16]), modes.GCM(nonce, tag)).decryptor()
    return dec.update(ct) + dec.finalize()


def encrypt_many(values: list[str]) -> list[str]:
    """Encrypt a batch under the current key (imports: the cipher is built once, nonces drawn in one call).
    Empty values stay empty."""
    ring = keyring()
    key = ring.keys[ring.current_id]
    tag = CIPHER_TAGS[ring.cipher]
    prefix = f"{tag}${ring.current_id}$"
    if tag == "a":
        seal = AESGCM(key).encrypt  # (nonce, data, associated data)
    else:
        def seal(nonce: bytes, data: bytes, _aad: None) -> bytes:
            return _sm4_gcm_encrypt(key, nonce, data)
    nonces = os.urandom(12 * len(values))
    b64 = binascii.b2a_base64  # base64.b64encode without its Python wrapper
    out = []
    append = out.append
    k = 0
    for value in values:
        if value:
            nonce = nonces[k:k + 12]
            append(prefix + b64(nonce + seal(nonce, value.encode(), None), newline=False).decode("ascii"))
        else:
            append(value)
        k += 12
    return out


def encrypt(plaintext: str) -> str:
    return encrypt_many([plaintext])[0]


def decrypt(token: str) -> str:
    tag, key_id, payload = token.split("$", 2)
    key = keyring().keys.get(key_id)
    if key is None:
        raise ImproperlyConfigured(f"PII key {key_id!r} is not in JIEDAO_PII_KEYS")
    raw = base64.b64decode(payload)
    nonce, blob = raw[:12], raw[12:]
    data = AESGCM(key).decrypt(nonce, blob, None) if tag == "a" else _sm4_gcm_decrypt(key, nonce, blob)
    return data.decode("utf-8")


def key_id_of(token: str) -> str:
    return token.split("$", 2)[1]


# The blind index keeps the first 128 bits of the HMAC as 32 hex characters (truncated HMAC,
# as RFC 2104 §5 allows): a chance collision among a billion rows is about 2^-69. Half the key
# size of the whole 64: the unique (subdistrict, id_number_bidx) and the phone_bidx b-trees
# are the costliest part of writing a 100,000-row import. Migration people 0005 cut the stored values.
BLIND_INDEX_CHARS = 32


def blind_indexer(*, chars: int = BLIND_INDEX_CHARS):
    """A blind-index function with the key resolved once (for batches).

    ``chars`` is for migrations only: 64 gives the whole HMAC, the format before people 0005.
    """
    ring = keyring()
    # The keyed state once; a copy per value. cryptography's copy/update/finalize cost about a
    # third of the standard library's (whose HMAC.copy is Python code).
    keyed = hmac.HMAC(ring.blind_key, hashes.SM3() if ring.blind_hash == "SM3" else hashes.SHA256())

    def index(kind: str, normalised: str) -> str:
        if not normalised:
            return ""
        mac = keyed.copy()
        mac.update(f"{kind}:{normalised}".encode())
        return mac.finalize().hex()[:chars]
    return index


def blind_index(kind: str, normalised: str) -> str:
    """Keyed HMAC of a normalised value, cut to BLIND_INDEX_CHARS hex: exact search without storing the value."""
    return blind_indexer()(kind, normalised)


def constant_time_equal(a: str, b: str) -> bool:
    return std_hmac.compare_digest(a.encode(), b.encode())
