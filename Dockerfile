# The Airflow image with this project's runtime lock, requirements.txt: what the pipelines need to run,
# no development tool (those are in requirements-dev.txt). dags/, plugins/, include/ and config/
# are mounted by docker-compose.yaml rather than baked in, so edits show up without a rebuild.
FROM apache/airflow:3.3.2-python3.11

COPY --chown=airflow:root requirements.txt /opt/flightdeck/requirements.txt
RUN pip install --no-cache-dir -r /opt/flightdeck/requirements.txt
# The reference data landing folder: a named volume mounted here starts with this owner, so the
# airflow user can write the drop (airflow-init) and read it (the reference_data tasks).
RUN mkdir -p /opt/airflow/landing/reference
