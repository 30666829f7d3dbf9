"""Pure cleaning and enrichment: records in, records out, no I/O."""
