"""Custom search attributes Interlock writes, so requests can be filtered in the Web UI.

Search attributes are stored in plaintext even when payloads are encrypted: only identifiers and
names go here (tenant id, route, provider, model, status), never anything a user typed.
"""

from temporalio.common import SearchAttributeKey

TENANT = SearchAttributeKey.for_keyword("InterlockTenant")
ROUTE = SearchAttributeKey.for_keyword("InterlockRoute")
PROVIDER = SearchAttributeKey.for_keyword("InterlockProvider")
MODEL = SearchAttributeKey.for_keyword("InterlockModel")
STATUS = SearchAttributeKey.for_keyword("InterlockStatus")

ALL = (TENANT, ROUTE, PROVIDER, MODEL, STATUS)


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` arguments that register every attribute at launch."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}=Keyword"]
    return flags
