"""Source connectors: move a partition's rows out of a source system into warehouse staging."""
