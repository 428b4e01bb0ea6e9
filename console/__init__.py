"""The web console for community managers: server-rendered pages over the queue's domain (desk/), mounted at
``/`` by api/app.py. Every action is a plain form post; console/static/console.js adds shortcuts and live
updates. Sessions are cookies naming an API key (console/session.py), checked on every request."""
