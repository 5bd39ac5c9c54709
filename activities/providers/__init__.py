"""Provider adapters behind one contract (contracts.chat)."""

from activities.providers.base import ChatProvider, ProviderRegistry
from activities.providers.errors import ProviderError

__all__ = ["ChatProvider", "ProviderError", "ProviderRegistry"]
