"""Match's rules, without I/O: hotlists and their entries, how a read matches an entry, the index
that finds candidates, the look-back's store of recent reads, and one hit per passage."""
