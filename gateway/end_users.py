"""Who the client's end user is, as outcomes keep it: a keyed hash, never the id.

The OpenAI `user` field, or the `x-interlock-user` header where a client cannot set the field,
names the end user. Experiments and per-user analysis need to group requests by it; nobody
needs the id itself, which is often an email address. HMAC-SHA256 with the installation's key
(INTERLOCK_USER_HASH_KEY, or a random key made once and kept in the store) over tenant and user:
the same user of the same tenant always hashes the same, two tenants' users never meet, and a
list of guessed ids cannot be hashed without the key.
"""

from __future__ import annotations

import hashlib
import hmac

USER_HEADER = "x-interlock-user"
SECRET_NAME = "user-hash-key"


def user_hash(key: bytes, tenant_id: str, user: str | None) -> str | None:
    if not user:
        return None
    message = f"{tenant_id}\x00{user}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]
