"""The tiered cache: L1 in each process, L2 in Redis, tags as versions."""

from overdrive.cache.entry import CacheEntry
from overdrive.cache.serializer import MsgpackSerializer, Serializer
from overdrive.cache.tiered import Cache

__all__ = ["Cache", "CacheEntry", "MsgpackSerializer", "Serializer"]
