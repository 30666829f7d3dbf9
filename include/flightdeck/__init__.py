"""flightdeck: pure extract, transform and load functions for the flights warehouse."""
