"""flightdeck: the pipelines' code, without Airflow.

core/       the framework every pipeline uses (imports no source)
warehouse/  the warehouse model the sources share (DDL, weather at departure, fact-key resolution)
sources/    one package per source system (flights, weather, reference, world_airports)
marts/      marts built from the warehouse
catalog.py  the one module that knows every source: configuration, pipelines, DDL
"""
