"""Every actor along the chain: EPCIS 2.0 capture and query, custody of lots, and the party pages."""
