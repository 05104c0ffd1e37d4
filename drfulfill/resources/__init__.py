"""One module per API resource; each builds requests, calls the funnel and decodes."""
