"""The `interlock` command line."""
