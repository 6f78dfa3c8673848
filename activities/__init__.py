"""Side effects of an investigation: documents, notices, delivery."""
