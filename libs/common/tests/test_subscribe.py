"""``messaging.subscribe``: a handler gets the consumed record as it came, undecoded."""

from __future__ import annotations

import json

from faststream.kafka import KafkaBroker, TestKafkaBroker

from visitor_common.messaging import ConsumedRecord, subscribe


async def test_the_handler_gets_the_record_as_it_came() -> None:
    broker = KafkaBroker()
    seen: list[ConsumedRecord] = []

    @subscribe(broker, "things", group_id="g")
    async def on_thing(message: ConsumedRecord) -> None:
        seen.append(message)

    value = json.dumps({"specversion": "1.0", "data": {"n": 1}}).encode()
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(value, "things", key=b"k", headers={"content-type": "application/json"})

    [record] = seen
    assert record.body == value  # the bytes, not FastStream's JSON decoding of them
    assert record.raw_message.key == b"k"  # type: ignore[union-attr]
    assert record.headers["content-type"] == "application/json"
    assert await record.decode() is record  # our decoder ran, not FastStream's JSON one
