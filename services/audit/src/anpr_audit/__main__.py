"""`python -m anpr_audit`: the audit service on Kafka and PostgreSQL."""

from anpr_audit.bootstrap import build_app
from anpr_audit.settings import AuditSettings
from anpr_core.standalone import run_standalone

if __name__ == "__main__":
    run_standalone("audit", AuditSettings, build_app)
