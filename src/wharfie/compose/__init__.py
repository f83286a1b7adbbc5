"""wharfie compose: compose model (pure) -> plan (pure) -> apply through the client."""
