"""Platform connectors: Discord, Reddit, Meta (Instagram + Facebook Pages) and Discourse.

Intake turns a platform event — pushed to a signed route, pulled by a poller with a persisted cursor, or
dispatched on Discord's gateway — into our inbound message through the same domain call as
``POST /v1/messages`` (desk.queue.submit_message), remembering where the reply goes. Delivery posts an
approved draft's text there through the outbox relay (desk.relay), so nothing leaves without approval and
a timed-out post is looked for before it is posted again. Above the domain: imports desk and below, never api.
"""
