"""Upbit's JWT check, reproduced: HS256/HS384/HS512 over the raw secret, single-use nonces, query_hash.

Upbit hashes the percent-decoded query string in its original order (GET/DELETE) or `k=v&...` of the
JSON body in document order (POST). Clients differ in the details (pyupbit hashes its urlencoded
form with only `[]` decoded and sends GET parameters as a form body), so every form a real client
is known to send is accepted; anything else is refused with Upbit's error name and status.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
from collections import OrderedDict
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlencode

_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
NONCE_MEMORY = 1_000_000


class AuthError(Exception):
    """A refused request: Upbit's HTTP status, error name and message."""

    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.name = name
        self.message = message


NO_TOKEN = (401, "no_authorization_token", "Authorization 헤더를 확인해주세요. (Please check Authorization Header)")
BAD_SIGNATURE = (401, "jwt_verification", "Jwt 토큰 검증에 실패했습니다. (JWT token verification failed)")
UNKNOWN_KEY = (401, "invalid_access_key", "잘못된 엑세스 키입니다. (Invalid access key)")
NONCE_USED = (401, "nonce_used", "이미 요청한 nonce값이 다시 사용되었습니다. (Nonce already used)")
BAD_QUERY = (401, "invalid_query_payload", "Failed to verify the query of Jwt.")

# What `reject_keys` can make every authenticated call answer: the refusals a person must fix at Upbit.
KEY_REFUSALS = {
    "invalid_access_key": UNKNOWN_KEY,
    "jwt_verification": BAD_SIGNATURE,
    "expired_access_key": (401, "expired_access_key", "API 키가 만료되었습니다. (The API key has expired)"),
    "no_authorization_ip": (401, "no_authorization_ip", "This is not a verified IP."),
    "out_of_scope": (401, "out_of_scope", "권한이 부족합니다. (The key lacks the permission for this call)"),
}


def _b64decode(segment: str) -> bytes:
    padded = segment + "=" * (-len(segment) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


def _stringify(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def body_hash_strings(pairs: list[tuple[str, Any]]) -> set[str]:
    """Every string a known client would have hashed for these JSON body pairs (document order)."""
    plain_pairs: list[tuple[str, str]] = []
    python_pairs: list[tuple[str, str]] = []
    for key, value in pairs:
        values = value if isinstance(value, list) else [value]
        for item in values:
            text = _stringify(item)
            python_pairs.append((key, "None" if text is None else text))
            if text is not None:  # Upbit's Java sample drops nulls
                plain_pairs.append((key, text))
    candidates = {
        "&".join(f"{k}={v}" for k, v in plain_pairs),
        "&".join(f"{k}={v}" for k, v in python_pairs),
    }
    encoded = urlencode(plain_pairs, doseq=True)
    candidates.add(encoded.replace("%5B%5D=", "[]="))  # pyupbit
    candidates.add(unquote(encoded))  # the official Python helper
    return candidates


def query_hash_strings(raw: str) -> set[str]:
    """Every string a known client would have hashed for this raw (still encoded) query string."""
    return {unquote(raw), raw, raw.replace("%5B%5D=", "[]=").replace("%5B%5D", "[]")}


class Verifier:
    """Checks Authorization headers against one key pair; remembers nonces for the process's life."""

    def __init__(self, access_key: str, secret_key: str) -> None:
        self.access_key = access_key
        self._secret = secret_key.encode("utf-8")
        self._nonces: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self.reject_all = False
        self.reject_name = "invalid_access_key"

    @staticmethod
    def claimed_access_key(header: str | None) -> str | None:
        """The access key a token claims, unverified (rate limits count per account)."""
        if not header or not header.startswith("Bearer "):
            return None
        parts = header[7:].strip().split(".")
        if len(parts) != 3:
            return None
        try:
            payload = json.loads(_b64decode(parts[1]))
        except (ValueError, binascii.Error):
            return None
        key = payload.get("access_key") if isinstance(payload, dict) else None
        return key if isinstance(key, str) else None

    def verify(self, header: str | None, *, hash_strings: set[str] | None, single_use_nonce: bool = True) -> str:
        """Return the access key, or raise AuthError. `hash_strings` is None when the request has no
        parameters; otherwise the set of strings whose SHA-512 the token's query_hash may be.
        `single_use_nonce=False` accepts a nonce seen before (a WebSocket handshake)."""
        if not header or not header.strip():
            raise AuthError(*NO_TOKEN)
        if not header.startswith("Bearer "):
            raise AuthError(*BAD_SIGNATURE)
        token = header[7:].strip()
        parts = token.split(".")
        if len(parts) != 3:
            raise AuthError(*BAD_SIGNATURE)
        try:
            jose = json.loads(_b64decode(parts[0]))
            payload = json.loads(_b64decode(parts[1]))
            signature = _b64decode(parts[2])
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise AuthError(*BAD_SIGNATURE) from None
        if not isinstance(jose, dict) or not isinstance(payload, dict):
            raise AuthError(*BAD_SIGNATURE)
        digest = _HASHES.get(str(jose.get("alg", "")).upper())
        if digest is None:
            raise AuthError(*BAD_SIGNATURE)
        access_key = payload.get("access_key")
        if self.reject_all:
            raise AuthError(*KEY_REFUSALS.get(self.reject_name, UNKNOWN_KEY))
        if not isinstance(access_key, str) or not hmac.compare_digest(access_key, self.access_key):
            raise AuthError(*UNKNOWN_KEY)
        expected = hmac.new(self._secret, f"{parts[0]}.{parts[1]}".encode("ascii"), digest).digest()
        if not hmac.compare_digest(expected, signature):
            raise AuthError(*BAD_SIGNATURE)
        nonce = payload.get("nonce")
        if not isinstance(nonce, str) or not nonce:
            raise AuthError(401, "invalid_query_payload", "Failed to verify the query of Jwt. (nonce is missing)")
        with self._lock:
            if nonce in self._nonces and single_use_nonce:
                raise AuthError(*NONCE_USED)
            self._nonces[nonce] = None
            if len(self._nonces) > NONCE_MEMORY:
                self._nonces.popitem(last=False)
        if hash_strings is not None:
            query_hash = payload.get("query_hash")
            algorithm = str(payload.get("query_hash_alg") or "SHA512").upper()
            if not isinstance(query_hash, str) or algorithm != "SHA512":
                raise AuthError(*BAD_QUERY)
            wanted = query_hash.lower()
            if not any(hmac.compare_digest(hashlib.sha512(s.encode("utf-8")).hexdigest(), wanted) for s in hash_strings):
                raise AuthError(*BAD_QUERY)
        return access_key
