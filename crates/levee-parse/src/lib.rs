//! Log parsers: bytes of one line in, a record and an event time out.
