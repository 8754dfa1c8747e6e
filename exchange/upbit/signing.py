"""Upbit's request signing: the query string as sent, the text it hashes, and the HS512 JWT."""

from __future__ import annotations

import hashlib
import uuid as uuid_module
import warnings
from collections.abc import Sequence
from urllib.parse import quote_plus, unquote, urlencode

import jwt

# Upbit issues 40-character secret keys; PyJWT warns that HS512 keys should be 64 bytes. The key length is
# Upbit's choice, not something a person running autocoin can fix, so the warning is only noise in their logs.
if hasattr(jwt, "InsecureKeyLengthWarning"):
    warnings.filterwarnings("ignore", category=jwt.InsecureKeyLengthWarning)


def encode_query(params: Sequence[tuple[str, str]]) -> str:
    """The query string as sent. `[]` in array names stays literal, as Upbit's docs ask."""
    return urlencode(list(params), doseq=True, safe="[]", quote_via=quote_plus)


def query_hash_source(params: Sequence[tuple[str, str]] | None = None, body: dict[str, str] | None = None) -> str:
    """The exact text Upbit hashes: the URL-decoded query string, or `k=v&...` of the JSON body in order."""
    if body:
        return "&".join(f"{key}={value}" for key, value in body.items())
    if params:
        return unquote(encode_query(params))
    return ""


def make_token(access_key: str, secret_key: str, hash_source: str = "", *, nonce: str | None = None) -> str:
    """An Upbit JWT (HS512). `query_hash` is present only when the request has parameters."""
    payload: dict[str, str] = {"access_key": access_key, "nonce": nonce or str(uuid_module.uuid4())}
    if hash_source:
        payload["query_hash"] = hashlib.sha512(hash_source.encode("utf-8")).hexdigest()
        payload["query_hash_alg"] = "SHA512"
    return jwt.encode(payload, secret_key, algorithm="HS512")
