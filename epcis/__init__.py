"""EPCIS 2.0 events: identifiers, the event hash, the event store, and the national portal outbox."""
