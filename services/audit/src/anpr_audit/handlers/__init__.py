"""The audit service's work, one named function (or ChainWatch method) per command and per event,
its dependencies passed in: appending what the bus carries, verifying and checkpointing the
chain, and answering the auditor."""
