"""`python -m anpr_ingest`: the ingest service on Kafka and PostgreSQL."""

from anpr_core.standalone import run_standalone
from anpr_ingest.bootstrap import build_app
from anpr_ingest.settings import IngestSettings

if __name__ == "__main__":
    run_standalone("ingest", IngestSettings, build_app)
