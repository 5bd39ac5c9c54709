"""Pure statistics and decisions: sufficient statistics in, decisions out; no I/O, no Temporal."""
