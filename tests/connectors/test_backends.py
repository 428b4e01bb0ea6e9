"""A connector's message and reply on SQLite and on PostgreSQL alike (tables of migration 0011, the link
written with the message, the platform's post id on the delivery)."""

from __future__ import annotations

from testkit.live import LiveServer
from testkit.platforms.discourse import DiscourseServer
from tests.connectors.conftest import add_connector, approve, delivery_of, pending_draft


def test_discourse_round_trip_on_each_backend(backend_live: LiveServer) -> None:
    with DiscourseServer() as forum:
        connector = add_connector(backend_live, {
            "name": "forum", "platform": "discourse", "config": {"base_url": forum.url, "username": forum.username},
            "credentials": {"api_key": {"value": forum.api_key}, "webhook_secret": {"value": forum.webhook_secret}}})
        post = forum.new_topic("Shipping", "How long does shipping to the UK take?", username="dana")
        headers, body = forum.event("post_created", post)
        with backend_live.client(None) as anonymous:
            answer = anonymous.post(connector["events_path"], content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        [message_id] = answer.json()["accepted"]
        with backend_live.client("cm") as cm:
            draft = pending_draft(cm, message_id)
            approve(cm, draft, "Hi Dana, 3-5 working days.")
            delivery = delivery_of(cm, draft["id"])
        [reply] = forum.replies_to(post["topic_id"], 1)
        assert reply["raw"] == "Hi Dana, 3-5 working days." and delivery["platform_post_id"] == str(reply["id"])
