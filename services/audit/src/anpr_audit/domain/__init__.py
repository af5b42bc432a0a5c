"""The audit log's rules: the hash chain, its signed checkpoints and their verification, the
actions the log knows. No I/O: plain data in, verdicts out."""
