"""`python -m anpr_match`: the match service on Kafka and PostgreSQL."""

from anpr_core.standalone import run_standalone
from anpr_match.bootstrap import build_app
from anpr_match.settings import MatchSettings

if __name__ == "__main__":
    run_standalone("match", MatchSettings, build_app)
