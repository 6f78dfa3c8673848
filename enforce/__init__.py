"""The `enforce` command line: cases, the local dev stack, and presentation."""
