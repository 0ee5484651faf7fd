"""The step API: Provider, inputs, events, states, waits, snapshots."""

import copy
import pickle

import pytest

import coldstart as cs

MIB = 1 << 20
GIB = 1 << 30

# The README tour's provider: 2 hosts, main storage of 10 GiB fed at 200 MB/s.
TOUR = {
    "provider": {
        "main_storage": {"capacity": "10GiB", "download_bandwidth": "200MB/s"},
        "hosts": [{"count": 2, "ram": "16GiB", "slots": 8, "disk": "40GiB", "copy_bandwidth": "1GB/s"}],
    }
}


def registered(provider=None):
    """A provider with one 200 MiB image and one function of it."""
    provider = provider or cs.Provider(TOUR)
    (event,) = provider.apply(cs.register_image(0, 200 * MIB))
    assert event == {"at_us": 0, "kind": "ImageRegistered", "image": 0, "size_bytes": 200 * MIB}
    (event,) = provider.apply(cs.register_function(0, event["image"], 512 * MIB, 512 * MIB, 3_000_000))
    assert event == {"at_us": 0, "kind": "FunctionRegistered", "function": 0, "image": 0}
    return provider, event["function"]


def test_a_function_has_start_costs_of_its_own():
    provider = cs.Provider(TOUR)
    provider.apply(cs.register_image(0, 200 * MIB))
    own = cs.register_function(0, 0, 512 * MIB, 512 * MIB, 3_000_000, cold_start_us=900_000, warm_start_us=7_000)
    assert (own["cold_start_us"], own["warm_start_us"]) == (900_000, 7_000)
    assert "cold_start_us" not in cs.register_function(0, 0, MIB, 0, 1_000)
    (event,) = provider.apply(own)
    function = event["function"]
    # The log's nested form takes them too (a None is absent).
    (event,) = provider.apply({
        "at_us": 0,
        "command": {"RegisterFunction": {
            "image": 0, "memory_bytes": MIB, "scratch_bytes": 0, "time_limit_us": 1_000,
            "cold_start_us": None, "warm_start_us": 3,
        }},
    })
    assert event["kind"] == "FunctionRegistered"
    first = provider.apply(cs.invoke(1_000, function, cs.success(50_000, 1)))[0]["invocation"]
    finished = provider.wait_for(first)
    # As the tour, but its own 900 ms cold start instead of the 250 ms.
    assert finished["at_us"] == 1_000 + 1_048_576 + 209_716 + 900_000 + 50_000
    seen = []
    second = provider.apply(cs.invoke(finished["at_us"], function, cs.success(50_000, 2)))[0]["invocation"]
    provider.wait_for(second, events=seen)
    started = next(e for e in seen if e["kind"] == "ExecutionStarted")
    assert started["at_us"] == finished["at_us"] + 7_000
    with pytest.raises(cs.Refused):
        provider.apply(cs.register_function(provider.now_us, 0, MIB, 0, 1_000, cold_start_us=1 << 62))


def test_the_tour():
    provider, function = registered()
    events = provider.apply(cs.invoke(1_000, function, cs.success(50_000, 42)))
    assert events == [
        {"at_us": 1_000, "kind": "Accepted", "function": 0, "invocation": 0},
        {"at_us": 1_000, "kind": "ColdStart", "container": 0, "host": 0, "image": "Registry", "invocation": 0},
        {"at_us": 1_000, "kind": "DownloadStarted", "image": 0},
    ]
    invocation = events[0]["invocation"]
    assert provider.get_state(invocation) == {"state": "Preparing", "container": 0, "host": 0}
    seen = []
    finished = provider.wait_for(invocation, events=seen)
    # Download 200 MiB at 200 MB/s, copy at 1 GB/s, start (250 ms), run 50 ms.
    end = 1_000 + 1_048_576 + 209_716 + 250_000 + 50_000
    assert finished == {
        "invocation": invocation,
        "at_us": end,
        "outcome": "Completed",
        "cost_picodollars": 2_700_005,
        "output": 42,
    }
    assert [e["kind"] for e in seen] == [
        "DownloadFinished", "CopyStarted", "CopyFinished", "ExecutionStarted", "Completed", "ContainerIdle",
    ]
    assert provider.get_output(invocation) == 42
    assert provider.get_state(invocation)["state"] == "Ended"
    assert provider.now_us == end
    assert provider.next_timer_us == end + 600_000_000  # the 10 min keep-alive
    metrics = provider.metrics()
    assert (metrics["completed"], metrics["cold_starts"], metrics["warm_starts"]) == (1, 1, 0)
    assert metrics["bytes_downloaded"] == 200 * MIB
    provider.check_invariants()
    assert len(provider.config()["hosts"]) == 2
    assert "2 hosts" in repr(provider)


def test_the_default_provider_is_the_default_scenarios():
    provider = cs.Provider()
    assert len(provider.config()["hosts"]) == 4
    assert provider.now_us == 0 and provider.next_timer_us is None
    from conftest import EXAMPLES

    six = cs.Provider(EXAMPLES / "default.toml", set=["provider.hosts[0].count=6"])
    assert len(six.config()["hosts"]) == 6
    assert cs.Provider(EXAMPLES / "default.toml") == provider


def test_a_warm_start_and_a_failure():
    provider, function = registered()
    first = provider.apply(cs.invoke(0, function, cs.success(1_000, 1)))[0]["invocation"]
    provider.wait_for(first)
    events = provider.apply(cs.invoke(provider.now_us, function, cs.failure("Build", clone_us=10, build_us=20)))
    assert [e["kind"] for e in events] == ["Accepted", "WarmStart"]
    second = events[0]["invocation"]
    ending = provider.wait_for(second)
    assert ending["outcome"] == "Failed" and ending["phase"] == "Build"
    with pytest.raises(cs.ClientError) as error:
        provider.get_output(second)
    assert str(error.value).startswith(f"invocation inv#1.0 has no output: its state is Ended(")


def test_refusals_carry_the_rust_message_and_the_timer_events():
    provider, function = registered()
    with pytest.raises(cs.Refused) as error:
        provider.apply(cs.invoke(0, 77, cs.success(1, 1)))
    assert str(error.value) == "unknown function fn#77.0: use an id a FunctionRegistered event returned"
    assert error.value.refusal == {"kind": "UnknownFunction", "function": 77}
    assert error.value.events == []

    invocation = provider.apply(cs.invoke(10, function, cs.success(1, 1)))[0]["invocation"]
    provider.wait_for(invocation)
    with pytest.raises(cs.Refused) as error:
        provider.apply(cs.advance(0))
    assert str(error.value) == (
        f"input at 0 µs is earlier than the current time {provider.now_us} µs: give inputs in time order"
    )
    assert error.value.refusal["kind"] == "TimeWentBackwards"

    # A refusal judged after the timers due by its time carries their events.
    expiry = provider.next_timer_us
    with pytest.raises(cs.Refused) as error:
        provider.apply(cs.reap(expiry, 12345))
    assert str(error.value) == "unknown (or reaped) invocation inv#12345.0"
    assert [e["kind"] for e in error.value.events] == ["ContainerRemoved"]
    assert error.value.events[0]["cause"] == "Expired"
    assert provider.now_us == expiry
    assert isinstance(error.value, cs.Error)


def test_validate_judges_as_apply_does():
    provider, function = registered()
    provider.validate(cs.invoke(0, function, cs.success(1, 1)))
    with pytest.raises(cs.Refused) as error:
        provider.validate(cs.register_image(0, 0))
    assert str(error.value) == "size_bytes must be greater than zero"
    assert provider.metrics()["accepted"] == 0  # validate changed nothing


def test_inputs_in_the_logs_json_form_and_bad_inputs():
    provider = cs.Provider(TOUR)
    events = provider.apply({"at_us": 0, "command": {"RegisterImage": {"size_bytes": 10}}})
    assert events[0]["kind"] == "ImageRegistered"
    assert provider.apply({"at_us": 5, "command": "Advance"}) == []
    for bad, words in [
        ({"command": "Advance"}, "an input needs `at_us`"),
        ({"at_us": 0}, "an input needs `command`"),
        ({"at_us": 0, "command": "Nope"}, "not an input: unknown variant `Nope`"),
        ({"at_us": 0, "command": "RegisterImage"}, "not an input"),
        ({"at_us": -1, "command": "Advance"}, "not an input"),
        ({"at_us": 2**64, "command": "Advance"}, "does not fit in 64 bits"),
        ([1, 2], "an input is a dict"),
        ({"at_us": 0, "command": {"Advance": None}, "x": 1}, "unknown field `x` beside a nested command"),
        ({"at_us": 0, "command": "RegisterImage", "size_bytes": object()}, "cannot convert a object"),
    ]:
        with pytest.raises(cs.InputError) as error:
            provider.apply(bad)
        assert words in str(error.value), (bad, str(error.value))


def test_apply_all_stops_at_the_first_refusal():
    provider, function = registered()
    inputs = [cs.invoke(t, function, cs.success(1_000, t)) for t in (1, 2, 3)]
    events = provider.apply_all(inputs)
    assert [e["kind"] for e in events].count("Accepted") == 3
    with pytest.raises(cs.Refused) as error:
        provider.apply_all([cs.advance(10), cs.advance(5), cs.advance(20)])
    assert error.value.step == 1
    assert provider.now_us == 10


def test_waits_for_several():
    provider, function = registered()
    ids = [
        provider.apply(cs.invoke(0, function, cs.success(run_us, run_us)))[0]["invocation"]
        for run_us in (300_000, 100_000, 200_000)
    ]
    first = provider.wait_for_any(ids)
    assert first["invocation"] == ids[1] and first["output"] == 100_000
    endings = provider.wait_for_all(ids)
    assert [e["output"] for e in endings] == [300_000, 100_000, 200_000]
    assert [s["state"] for s in provider.get_states(ids + [999])[:3]] == ["Ended"] * 3
    assert provider.get_states([999]) == [None]


def test_wait_errors():
    provider, function = registered()
    invocation = provider.apply(cs.invoke(0, function, cs.success(10_000_000, 1)))[0]["invocation"]
    with pytest.raises(cs.WaitError) as error:
        provider.wait_for(invocation, deadline_us=5_000)
    assert str(error.value) == (
        "deadline reached at 5000 µs before the invocation ended: wait again with a later deadline, or none"
    )
    assert provider.now_us == 5_000
    with pytest.raises(cs.WaitError) as error:
        provider.wait_for(invocation, deadline_us=10)
    assert str(error.value) == "deadline 10 µs is before the current time 5000 µs: give one at or after it, or none"
    with pytest.raises(cs.WaitError) as error:
        provider.wait_for_any([])
    assert str(error.value) == "wait_for_any needs at least one invocation"
    with pytest.raises(cs.WaitError) as error:
        provider.wait_for(12345)
    assert str(error.value) == "unknown (or reaped) invocation inv#12345.0"
    empty = cs.Provider(TOUR)
    image = empty.apply(cs.register_image(0, MIB))[0]["image"]
    assert image == 0
    with pytest.raises(cs.ClientError):
        empty.get_state(0)


def test_a_stalled_wait():
    provider, function = registered()
    provider.apply(cs.host_down(0, 0))
    provider.apply(cs.host_down(0, 1))
    events = provider.apply(cs.invoke(0, function, cs.success(1, 1)))
    assert events[1]["kind"] == "Rejected"
    assert provider.wait_for(events[0]["invocation"])["outcome"] == "Rejected"
    with pytest.raises(cs.Refused) as error:
        provider.apply(cs.host_down(1, 0))
    assert str(error.value) == "host#0 is already down"


def run_to_end(provider, function, start):
    events = []
    ids = [
        provider.apply(cs.invoke(start + i * 50_000, function, cs.success(30_000 + i, i)))[0]["invocation"]
        for i in range(20)
    ]
    endings = provider.wait_for_all(ids, events=events)
    return endings, events


def test_snapshots_continue_identically():
    provider, function = registered()
    provider.apply(cs.invoke(0, function, cs.success(40_000, 9)))
    snapshot = provider.snapshot()
    assert isinstance(snapshot, bytes)
    restored = cs.Provider.restore(snapshot)
    assert restored == provider
    assert run_to_end(restored, function, 100) == run_to_end(provider, function, 100)
    assert restored == provider
    restored.check_invariants()


def test_pickle_and_copy():
    provider, function = registered()
    provider.apply(cs.invoke(0, function, cs.success(40_000, 9)))
    for other in (pickle.loads(pickle.dumps(provider)), copy.copy(provider), copy.deepcopy(provider)):
        assert other == provider
        assert other is not provider
        assert run_to_end(other, function, 100) == run_to_end(provider.__copy__(), function, 100)
    # A copy is independent of the original.
    twin = copy.copy(provider)
    twin.apply(cs.advance(10_000_000))
    assert twin != provider and provider.now_us == 0
    assert provider != "a provider"


def test_a_bad_snapshot_is_refused():
    with pytest.raises(cs.SnapshotError) as error:
        cs.Provider.restore(b"not json")
    assert str(error.value).startswith("not a snapshot: ")
    provider, _ = registered()
    text = provider.snapshot().decode()
    # Valid JSON of the right shape, but a state that breaks an invariant.
    broken = text.replace('"ram_used_bytes":0', '"ram_used_bytes":5', 1)
    assert broken != text
    with pytest.raises(cs.SnapshotError) as error:
        cs.Provider.restore(broken.encode())
    assert str(error.value).startswith("not a snapshot: invariant violated: ")
    with pytest.raises(cs.SnapshotError) as error:
        cs.Provider.restore(b"{}")
    assert str(error.value) == "not a snapshot: missing field `core` at line 1 column 2"
    with pytest.raises(cs.SnapshotError):
        pickle.loads(pickle.dumps(provider).replace(b"ram_used_bytes\":0", b"ram_used_bytes\":7"))


def test_check_invariants_passes_along_a_run():
    provider, function = registered()
    ids = []
    for i in range(50):
        ids.append(provider.apply(cs.invoke(i * 10_000, function, cs.success(200_000, i)))[0]["invocation"])
        provider.check_invariants()
    outcomes = [e["outcome"] for e in provider.wait_for_all(ids)]
    # 16 slots for 50 invocations of 200 ms, one every 10 ms: some rejected.
    assert set(outcomes) == {"Completed", "Rejected"}
    assert outcomes.count("Completed") == provider.metrics()["completed"]
    provider.check_invariants()


def test_queue_mode():
    provider = cs.Provider(TOUR, set=["provider.pressure=queue", "provider.hosts[0].slots=1", "provider.hosts[0].count=1"])
    _, function = registered(provider)
    ids = [provider.apply(cs.invoke(0, function, cs.success(1_000, i)))[0]["invocation"] for i in range(3)]
    assert provider.queue() == ids[1:]
    assert provider.get_state(ids[1]) == {"state": "Queued", "since_us": 0}
    assert [e["output"] for e in provider.wait_for_all(ids)] == [0, 1, 2]


def test_a_function_of_concurrency_2_shares_its_container():
    """Spec R57b: the second invocation joins the first's container while it starts."""
    provider = cs.Provider(TOUR)
    (event,) = provider.apply(cs.register_image(0, 200 * MIB))
    (event,) = provider.apply(
        cs.register_function(0, event["image"], 512 * MIB, 0, 3_000_000, concurrency=2)
    )
    function = event["function"]
    provider.apply(cs.invoke(0, function, cs.success(50_000, 1)))
    events = provider.apply(cs.invoke(10, function, cs.success(50_000, 2)))
    assert events == [
        {"at_us": 10, "kind": "Accepted", "function": 0, "invocation": 1},
        {"at_us": 10, "kind": "WarmStart", "container": 0, "host": 0, "invocation": 1},
    ]
    assert provider.metrics()["joins_starting"] == 1
    with pytest.raises(cs.Refused) as error:
        provider.apply(cs.register_function(20, 0, 512 * MIB, 0, 3_000_000, concurrency=0))
    assert "concurrency" in str(error.value)


def test_a_min_scale_function_keeps_its_floor_warm():
    """Spec R161-R163: the floor is placed at registration and served warm."""
    provider = cs.Provider(TOUR)
    (event,) = provider.apply(cs.register_image(0, 200 * MIB))
    events = provider.apply(
        cs.register_function(0, event["image"], 512 * MIB, 0, 3_000_000, min_scale=2)
    )
    assert [e["kind"] for e in events][:2] == ["FunctionRegistered", "FloorPlaced"]
    function = events[0]["function"]
    provider.apply(cs.advance(60_000_000))
    assert provider.metrics()["reserved_containers_now"] == 2
    events = provider.apply(cs.invoke(60_000_000, function, cs.success(50_000, 1)))
    assert events[1]["kind"] == "WarmStart"
    assert provider.metrics()["floor_warm_starts"] == 1
