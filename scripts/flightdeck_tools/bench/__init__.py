"""`etl bench`: the flights pipeline's partition throughput against COPY, to_sql and insert_rows.

data.py generates flights-shaped partitions in the source, methods.py holds the measured methods,
worker.py runs one of them in its own process (so its peak RSS is its own), runner.py interleaves
them and takes medians, report.py writes bench/results.json and the table in
documentation/benchmarks.md. Nothing here is imported by the pipeline or the DAGs.
"""
