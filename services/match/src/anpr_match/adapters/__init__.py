"""Match's I/O: every SQL statement of the service (tables, stores, the bulk insert) and the wire
codecs (protobuf <-> domain), and the hotlist topic's publisher."""
