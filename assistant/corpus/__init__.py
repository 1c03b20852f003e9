"""The report as data: parsed into documents with citation metadata (parse, corrections), then chunked
for the embedding model (chunk)."""
