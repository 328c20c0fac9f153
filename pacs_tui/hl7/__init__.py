"""HL7 v2 over MLLP: framing, headers, acknowledgements and validation, and the listener, the tap
and the link check built on them (engine side: no Textual)."""
