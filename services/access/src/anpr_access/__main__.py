"""`python -m anpr_access`: the access service on Kafka and PostgreSQL."""

from anpr_access.bootstrap import build_app
from anpr_access.settings import AccessSettings
from anpr_core.standalone import run_standalone

if __name__ == "__main__":
    run_standalone("access", AccessSettings, build_app)
