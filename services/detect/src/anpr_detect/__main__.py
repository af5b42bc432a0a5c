"""`python -m anpr_detect`: the detect service on Kafka."""

from anpr_core.standalone import run_standalone
from anpr_detect.bootstrap import build_app
from anpr_detect.settings import DetectSettings

if __name__ == "__main__":
    run_standalone("detect", DetectSettings, build_app, needs_database=False)
