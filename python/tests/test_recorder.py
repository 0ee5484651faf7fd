"""Recorder: a provider that writes a command log, replayed by the CLI and by replay()."""

import json

import pytest

import coldstart as cs
from conftest import cli_json, run_cli
from test_step import MIB, TOUR


def record_tour(recorder):
    """Registrations, a cold start, warm starts, a refusal, waits, a drain."""
    image = recorder.apply(cs.register_image(0, 200 * MIB))[0]["image"]
    function = recorder.apply(cs.register_function(0, image, 512 * MIB, 512 * MIB, 3_000_000))[0]["function"]
    first = recorder.apply(cs.invoke(1_000, function, cs.success(50_000, 42)))[0]["invocation"]
    seen = []
    finished = recorder.wait_for(first, events=seen)
    assert finished["output"] == 42
    assert [e["kind"] for e in seen][-2:] == ["Completed", "ContainerIdle"]
    ids = [
        recorder.apply(cs.invoke(recorder.now_us + i, function, cs.success(10_000 * (i + 1), i)))[0]["invocation"]
        for i in range(3)
    ]
    assert recorder.wait_for_any(ids)["invocation"] == ids[0]
    assert [e["output"] for e in recorder.wait_for_all(ids)] == [0, 1, 2]
    with pytest.raises(cs.Refused) as error:
        recorder.apply(cs.invoke(recorder.now_us, 77, cs.success(1, 1)))
    assert str(error.value) == "unknown function fn#77.0: use an id a FunctionRegistered event returned"
    drained = []
    # The three ran at once: the first warm on container 0, two cold.
    assert recorder.drain(events=drained) == 3
    assert [(e["kind"], e["container"]) for e in drained] == [("ContainerRemoved", c) for c in range(3)]
    assert recorder.next_timer_us is None
    return function


@pytest.mark.parametrize("name", ["tour.jsonl", "tour.cslog"])
def test_a_recorded_log_verifies_with_the_binary(tmp_path, name):
    log = tmp_path / name
    recorder = cs.Recorder(log, TOUR)
    record_tour(recorder)
    metrics = recorder.metrics()
    # Twelve steps: 6 inputs, 3 waits (as advances), 3 drain advances; the
    # refused input fired no timer, so it is not a step.
    assert recorder.steps_logged == 12
    trailer = recorder.finish()
    assert trailer["steps"] == 12 and recorder.finished
    with pytest.raises(cs.Error) as error:
        recorder.apply(cs.advance(10**9))
    assert str(error.value) == f"{log}: the recorder is finished"
    # Reads still work after finish.
    assert recorder.metrics() == metrics

    report = cli_json("replay", str(log), "--verify")
    assert report == cs.replay(log, verify=True)
    assert report["events"] == trailer["events"]
    assert report["events_digest"] == trailer["events_digest"]
    assert report["completed"] == metrics["completed"] == 4
    assert report["cold_starts"] == 3 and report["warm_starts"] == 1
    assert run_cli("replay", str(log), "--verify", "--quiet").returncode == 0


def test_the_recorder_runs_as_a_provider_does(tmp_path):
    with cs.Recorder(tmp_path / "a.jsonl", TOUR) as recorder:
        record_tour(recorder)
        copy = recorder.provider()
    provider = cs.Provider(TOUR)
    record_tour(provider_as_recorder(provider))
    assert copy == provider
    # The block's end wrote the trailer.
    assert cs.replay(tmp_path / "a.jsonl", verify=True)["completed"] == 4


def provider_as_recorder(provider):
    """A Provider with a recorder's drain (advance to each next timer)."""

    class Driven:
        def __getattr__(self, name):
            return getattr(provider, name)

        def drain(self, events=None):
            steps = 0
            while provider.next_timer_us is not None:
                seen = provider.apply(cs.advance(provider.next_timer_us))
                if events is not None:
                    events.extend(seen)
                steps += 1
            return steps

    return Driven()


def test_a_log_cut_short_by_an_exception_still_verifies(tmp_path):
    log = tmp_path / "cut.jsonl"
    with pytest.raises(ZeroDivisionError):
        with cs.Recorder(log, TOUR) as recorder:
            recorder.apply(cs.register_image(0, MIB))
            1 / 0
    assert cli_json("replay", str(log), "--verify")["events"] == 1


def test_a_refusal_that_fired_timers_is_logged_as_its_advance(tmp_path):
    log = tmp_path / "refused.jsonl"
    recorder = cs.Recorder(log, TOUR)
    image = recorder.apply(cs.register_image(0, MIB))[0]["image"]
    function = recorder.apply(cs.register_function(0, image, MIB, MIB, 1_000_000))[0]["function"]
    invocation = recorder.apply(cs.invoke(0, function, cs.success(1_000, 1)))[0]["invocation"]
    recorder.wait_for(invocation)
    expiry = recorder.next_timer_us
    with pytest.raises(cs.Refused) as error:
        recorder.apply(cs.reap(expiry, 12345))
    assert [e["kind"] for e in error.value.events] == ["ContainerRemoved"]
    recorder.finish()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    inputs = [line for line in lines if "command" in line]
    assert inputs[-1] == {"at_us": expiry, "command": "Advance"}
    assert cli_json("replay", str(log), "--verify")["events"] == cs.replay(log, verify=True)["events"]


def test_a_tampered_log_does_not_verify(tmp_path):
    log = tmp_path / "tampered.jsonl"
    recorder = cs.Recorder(log, TOUR)
    record_tour(recorder)
    recorder.finish()
    text = log.read_text().replace('"run_us":50000', '"run_us":50001', 1)
    assert '"run_us":50001' in text
    log.write_text(text)
    done = run_cli("replay", str(log), "--verify", check=False)
    # Step 2 is the invocation; step 3, the wait, ends it later than logged.
    assert done.returncode == 1 and "events diverge at step 3" in done.stderr
    with pytest.raises(cs.LogError) as error:
        cs.replay(log, verify=True)
    assert str(error.value) == done.stderr.strip()[len("coldstart: "):]


def test_recorder_errors(tmp_path):
    with pytest.raises(cs.LogError) as error:
        cs.Recorder(tmp_path / "log.txt", TOUR)
    assert str(error.value).startswith(f"{tmp_path / 'log.txt'}: ")
    with pytest.raises(cs.LogError):
        cs.Recorder(tmp_path / "missing" / "log.jsonl", TOUR)
    with pytest.raises(cs.ScenarioError):
        cs.Recorder(tmp_path / "log.jsonl", {"provider": {"nope": 1}})
    recorder = cs.Recorder(tmp_path / "log.jsonl", TOUR, check=True)
    with pytest.raises(cs.WaitError) as error:
        recorder.wait_for(12345)
    assert str(error.value) == "unknown (or reaped) invocation inv#12345.0"
    with pytest.raises(cs.Refused) as error:
        recorder.apply_all([cs.advance(5), cs.advance(1)])
    assert error.value.step == 1
    assert recorder.now_us == 5
    assert "recording" in repr(recorder)
