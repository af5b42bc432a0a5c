"""`python -m anpr_share`: the share service on Kafka and PostgreSQL."""

from anpr_core.standalone import run_standalone
from anpr_share.bootstrap import build_app
from anpr_share.settings import ShareSettings

if __name__ == "__main__":
    run_standalone("share", ShareSettings, build_app)
