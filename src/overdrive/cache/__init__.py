"""The tiered cache: L1 in each process, L2 in Redis, tags as versions."""
