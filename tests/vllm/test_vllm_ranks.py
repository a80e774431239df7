"""The mask exchange between ranks, without a distributed engine (the real one: test_vllm_parallel).

A stand-in group passes the leader's message to the follower the way vLLM's
``GroupCoordinator.broadcast_object`` does (the leader sends, the others receive);
masks survive the trip in both encodings, the digests of the two sides agree, and
outside a distributed vLLM the processor is a lone leader.
"""

from __future__ import annotations

import numpy as np

from mgd.vllm.ranks import MaskChannel, MaskDigest, Placement, decode_ids, encode_ids, placement


class _Wire:
    """One broadcast: what the leader sent is what the follower receives."""

    def __init__(self) -> None:
        self.sent: list[object] = []

    def broadcast_object(self, obj: object = None, src: int = 0) -> object:
        if obj is not None:
            self.sent.append(obj)
            return obj
        return self.sent.pop(0)


def test_ids_round_trip_in_both_encodings() -> None:
    width = 16_384
    few = np.array([3, 17, 16_383])
    many = np.arange(0, width, 3)
    assert encode_ids(few, width)[0] == "ids" and encode_ids(many, width)[0] == "bits"
    for ids in (few, many, np.array([], dtype=np.int64)):
        assert np.array_equal(decode_ids(encode_ids(ids, width), width), ids)


def test_follower_applies_what_the_leader_sent() -> None:
    wire = _Wire()
    leader = MaskChannel(Placement("leader", 0, 2, wire))
    follower = MaskChannel(Placement("follower", 1, 2, wire))
    rows, allowed = [0, 2], [np.array([5, 9]), np.arange(0, 1000)]
    boosts = [(np.array([9]), 3.0), None]  # a soft preference on the first row only
    sent = leader.exchange(rows, allowed, 1000, boosts)
    got = follower.exchange([], [], 1000)
    assert sent[0] == got[0] == rows
    assert all(np.array_equal(a, b) for a, b in zip(got[1], allowed, strict=True))
    assert got[2][1] is None and got[2][0][1] == 3.0 and np.array_equal(got[2][0][0], [9])
    digests = [MaskDigest(), MaskDigest()]
    for d, (r, a, _b) in zip(digests, (sent, got), strict=True):
        d.fold([(3, 11), (3, 12)], r, a)
    assert digests[0].as_dict() == digests[1].as_dict()
    other = MaskDigest()
    other.fold([(3, 11), (3, 13)], rows, allowed)  # another token on one row: a different digest
    assert other.value != digests[0].value


def test_alone_the_channel_is_a_no_op() -> None:
    channel = MaskChannel(Placement("leader"))
    rows, allowed = [1], [np.array([4])]
    assert channel.exchange(rows, allowed, 10) == (rows, allowed, [None])
    assert not channel.shared
    assert placement() == Placement("leader")  # no distributed vLLM in this process
