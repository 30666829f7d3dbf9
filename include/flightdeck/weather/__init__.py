"""Hourly weather at the origin airports from an Open-Meteo compatible archive API."""
