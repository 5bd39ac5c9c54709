"""Every side effect lives here: provider calls, store reads and writes."""
