"""IHE ATNA audit records: syslog headers, TCP framing and audit XML (engine side: no Textual)."""
