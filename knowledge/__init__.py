"""Knowledge base: loading documents, chunking, embedding, the Chroma store and retrieval."""
