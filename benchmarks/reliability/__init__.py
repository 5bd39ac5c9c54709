"""The reliability suite: the whole stack under faults, with the properties it must keep.

Each scenario starts its own `interlock dev` (a supervisor, a Temporal dev server, a worker and a
gateway, in a fresh home on free ports), drives real traffic through the gateway, injects its
faults, then checks what clients saw and what the store and Temporal hold. It prints its figures
and whether each property held. `make reliability` runs the short mode; `make reliability LONG=1`
the full one (docs/reliability.md).
"""
