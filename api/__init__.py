"""HTTP only: the FastAPI app, dependencies, the auth boundary, error mapping, idempotency, request ids,
metrics, pagination, schemas and routes. Routes validate, call the queue's domain (``desk``), and shape
the answer; no SQL, prompts or retrieval live here."""
