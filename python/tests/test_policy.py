"""Policies written in Python: hooks, the view, refused decisions, failures, logs."""

import copy
import json
import pickle

import pytest

import coldstart as cs
from conftest import run_cli
from test_step import MIB, TOUR


class LastFit:
    """The highest-numbered host that fits; counts its calls."""

    def __init__(self):
        self.calls = 0

    def select_host(self, view, request):
        self.calls += 1
        for host in reversed(range(view.host_count())):
            if view.fits(host, request):
                return host
        return None


class FirstFitSpelledOut:
    """Every hook, each answering what the trait's default answers."""

    def select_host(self, view, request):
        return view.first_fitting_host(request)

    def warm_priority(self, container):
        return 2**64 - 1 - container.created_seq

    def idle_eviction_priority(self, container):
        return container.last_used_us

    def idle_plan(self, container):
        return (600_000_000, None)

    def image_priority(self, image):
        return image.last_used_us

    def evicted(self, eviction):
        pass

    def collection_target_bytes(self, disk):
        return None


class Answers:
    """select_host answers `host`; other hooks as given."""

    def __init__(self, host=0, keep_alive_us=None, bill=None, plan=None):
        self.host = host
        if keep_alive_us is not None:
            self.keep_alive_us = lambda container: keep_alive_us
        if bill is not None:
            self.bill = lambda usage: bill
        if plan is not None:
            self.idle_plan = lambda container: plan

    def select_host(self, view, request):
        if isinstance(self.host, BaseException):
            raise self.host
        return self.host


def workload(provider, count=30):
    """Two functions of two images, invoked in bursts; every event."""
    events = []
    image_a = provider.apply(cs.register_image(0, 300 * MIB))[0]["image"]
    image_b = provider.apply(cs.register_image(0, 100 * MIB))[0]["image"]
    functions = [
        provider.apply(cs.register_function(0, image, 2048 * MIB, 256 * MIB, 5_000_000))[0]["function"]
        for image in (image_a, image_b, image_a)
    ]
    for i in range(count):
        at_us = 1_000 + (i // 6) * 60_000_000 + i * 7_000
        function = functions[i % 3]
        events += provider.apply(cs.invoke(at_us, function, cs.success(200_000 + i, i)))
    while provider.next_timer_us is not None:
        events += provider.apply(cs.advance(provider.next_timer_us))
    return events


def test_a_python_policy_places_containers():
    policy = LastFit()
    provider = cs.Provider(TOUR, policy=policy)
    assert provider.policy is policy
    image = provider.apply(cs.register_image(0, MIB))[0]["image"]
    function = provider.apply(cs.register_function(0, image, MIB, MIB, 1_000_000))[0]["function"]
    events = provider.apply(cs.invoke(0, function, cs.success(1_000, 1)))
    assert events[1]["kind"] == "ColdStart" and events[1]["host"] == 1
    assert policy.calls == 1
    assert "policy" in repr(provider) and "LastFit" in repr(provider)
    # The built-ins answer first fit on the same inputs.
    builtin = cs.Provider(TOUR, set=["provider.policy.host_selection=first_fit"])
    builtin.apply(cs.register_image(0, MIB))
    builtin.apply(cs.register_function(0, image, MIB, MIB, 1_000_000))
    assert builtin.apply(cs.invoke(0, function, cs.success(1_000, 1)))[1]["host"] == 0
    assert builtin.policy is None


def test_the_trait_defaults_spelled_out_run_as_first_fit():
    builtin = workload(cs.Provider(TOUR, set=["provider.policy.host_selection=first_fit"]))
    spelled = workload(cs.Provider(TOUR, policy=FirstFitSpelledOut()))
    only_select = workload(cs.Provider(TOUR, policy=FirstFitOnly()))
    assert spelled == builtin
    assert only_select == builtin
    kinds = {event["kind"] for event in builtin}
    assert {"ColdStart", "WarmStart", "ContainerRemoved"} <= kinds


class FirstFitOnly:
    def select_host(self, view, request):
        return view.first_fitting_host(request)


def test_the_view_and_the_facts():
    seen = {}

    class Looking:
        def select_host(self, view, request):
            seen["view"] = view
            seen["request"] = request
            seen["hosts"] = [view.host(h) for h in range(view.host_count())]
            seen["answers"] = (
                view.now_us(),
                view.host_count(),
                view.host(2),
                view.has_image(0, request.image),
                view.is_up(0),
                view.is_up(1),
                view.fits(1, request),
            )
            return 0

    provider = cs.Provider(TOUR, policy=Looking())
    image = provider.apply(cs.register_image(0, 200 * MIB))[0]["image"]
    function = provider.apply(cs.register_function(0, image, 512 * MIB, 256 * MIB, 1_000_000))[0]["function"]
    provider.apply(cs.host_down(5, 1))
    provider.apply(cs.invoke(7, function, cs.success(1_000, 1)))
    request = seen["request"]
    assert (request.invocation, request.function, request.image) == (0, function, image)
    assert (request.image_bytes, request.memory_bytes, request.scratch_bytes) == (200 * MIB, 512 * MIB, 256 * MIB)
    assert seen["answers"] == (7, 2, None, False, True, False, False)
    host = seen["hosts"][0]
    assert (host.ram_bytes, host.slots, host.disk_bytes, host.copy_bytes_per_s) == (16 << 30, 8, 40 << 30, 10**9)
    assert (host.ram_used_bytes, host.slots_used, host.idle_containers, host.busy_containers) == (0, 0, 0, 0)
    assert "PlacementRequest(invocation=Some(0)" in repr(request)
    # A view kept past its call is refused, not read.
    with pytest.raises(cs.PolicyError) as error:
        seen["view"].host_count()
    assert str(error.value) == "a HostView is valid only during the select_host call it was given to"
    assert repr(seen["view"]) == "<coldstart.HostView (expired)>"


def test_keep_alive_idle_plan_and_bill_hooks():
    provider = cs.Provider(TOUR, policy=Answers(keep_alive_us=1_000_000, bill=7))
    image = provider.apply(cs.register_image(0, MIB))[0]["image"]
    function = provider.apply(cs.register_function(0, image, MIB, MIB, 1_000_000))[0]["function"]
    invocation = provider.apply(cs.invoke(0, function, cs.success(1_000, 1)))[0]["invocation"]
    seen = []
    finished = provider.wait_for(invocation, events=seen)
    assert finished["cost_picodollars"] == 7
    idle = seen[-1]
    assert idle["kind"] == "ContainerIdle" and idle["expires_at_us"] == finished["at_us"] + 1_000_000

    # A plan with a pre-warm: the container is unloaded, a fresh one warmed later.
    provider = cs.Provider(TOUR, policy=Answers(plan={"keep_alive_us": 5_000, "prewarm_after_us": 2_000_000}))
    image = provider.apply(cs.register_image(0, MIB))[0]["image"]
    function = provider.apply(cs.register_function(0, image, MIB, MIB, 1_000_000))[0]["function"]
    invocation = provider.apply(cs.invoke(0, function, cs.success(1_000, 1)))[0]["invocation"]
    seen = []
    end = provider.wait_for(invocation, events=seen)["at_us"]
    assert [(e["kind"], e.get("cause")) for e in seen[-2:]] == [("ContainerRemoved", "Unloaded"), ("PrewarmPlanned", None)]
    later = []
    while provider.next_timer_us is not None:
        later += provider.apply(cs.advance(provider.next_timer_us))
    assert [e["kind"] for e in later] == ["Prewarmed", "ContainerIdle", "ContainerRemoved"]
    assert later[0]["at_us"] == end + 2_000_000
    # Ready after the cold-start overhead (250 ms), idle for the plan's 5 ms.
    assert later[1]["expires_at_us"] == end + 2_000_000 + 250_000 + 5_000


def test_a_bad_host_is_refused_by_core_as_in_rust():
    provider = cs.Provider(TOUR, policy=Answers(host=7))
    image = provider.apply(cs.register_image(0, MIB))[0]["image"]
    function = provider.apply(cs.register_function(0, image, MIB, MIB, 1_000_000))[0]["function"]
    events = provider.apply(cs.invoke(0, function, cs.success(1_000, 1)))
    assert [e["kind"] for e in events] == ["Accepted", "DecisionRefused", "Rejected"]
    assert events[1]["host"] == 7 and events[1]["reason"] == "UnknownHost"
    assert provider.metrics()["decisions_refused"] == 1
    provider.apply(cs.advance(10))  # the provider goes on


@pytest.mark.parametrize(
    "answer, words",
    [
        ("1", "select_host returned '1', not a host number"),
        (-1, "select_host returned -1, not a host number"),
        (2**32, f"select_host returned {2**32}, not a host number"),
        (True, "select_host returned True, not a host number"),
        (1.0, "select_host returned 1.0, not a host number"),
        (ValueError("boom"), "select_host raised ValueError: boom"),
    ],
)
def test_an_answer_that_is_no_decision_is_a_policy_error(answer, words):
    provider = cs.Provider(TOUR, policy=Answers(host=answer))
    image = provider.apply(cs.register_image(0, MIB))[0]["image"]
    function = provider.apply(cs.register_function(0, image, MIB, MIB, 1_000_000))[0]["function"]
    with pytest.raises(cs.PolicyError) as error:
        provider.apply(cs.invoke(0, function, cs.success(1_000, 1)))
    assert str(error.value).startswith("policy test_policy.Answers: ")
    assert words in str(error.value)
    if isinstance(answer, BaseException):
        assert error.value.__cause__ is answer
    # The provider stops: its next step would not be the policy's run.
    with pytest.raises(cs.PolicyError) as stopped:
        provider.apply(cs.advance(10))
    assert str(stopped.value).startswith("the provider is stopped: PolicyError: policy test_policy.Answers: ")
    with pytest.raises(cs.PolicyError):
        provider.snapshot()
    assert provider.metrics()["accepted"] == 1  # reads still work


def test_other_hooks_failing():
    for policy, words in [
        (Answers(keep_alive_us=-5), "keep_alive_us returned -5, not a duration in µs"),
        (Answers(bill="free"), "bill returned 'free', not a cost in picodollars"),
        (Answers(plan=("a", None)), "idle_plan returned ('a', None), not an idle plan"),
    ]:
        provider = cs.Provider(TOUR, policy=policy)
        image = provider.apply(cs.register_image(0, MIB))[0]["image"]
        function = provider.apply(cs.register_function(0, image, MIB, MIB, 1_000_000))[0]["function"]
        invocation = provider.apply(cs.invoke(0, function, cs.success(1_000, 1)))[0]["invocation"]
        with pytest.raises(cs.PolicyError) as error:
            provider.wait_for(invocation)
        assert words in str(error.value), str(error.value)


def test_a_policy_without_select_host_is_refused():
    with pytest.raises(TypeError) as error:
        cs.Provider(TOUR, policy=object())
    assert str(error.value) == "a policy needs a select_host(view, request) method; object has none"


def test_a_policy_that_steps_its_own_provider_gets_an_error_not_a_crash():
    class Reentrant:
        provider = None

        def select_host(self, view, request):
            self.provider.apply(cs.advance(0))
            return 0

    policy = Reentrant()
    provider = cs.Provider(TOUR, policy=policy)
    policy.provider = provider
    image = provider.apply(cs.register_image(0, MIB))[0]["image"]
    function = provider.apply(cs.register_function(0, image, MIB, MIB, 1_000_000))[0]["function"]
    with pytest.raises(cs.PolicyError) as error:
        provider.apply(cs.invoke(0, function, cs.success(1_000, 1)))
    assert "select_host raised RuntimeError: Already borrowed" in str(error.value)


def test_snapshots_pickle_and_copies_carry_the_policy():
    provider = cs.Provider(TOUR, policy=LastFit())
    events = workload(provider, count=6)
    assert provider.policy.calls > 0
    restored = cs.Provider.restore(provider.snapshot())
    assert restored.policy.calls == provider.policy.calls
    assert restored.policy is not provider.policy
    for other in (restored, pickle.loads(pickle.dumps(provider)), copy.copy(provider), copy.deepcopy(provider)):
        assert other.policy.calls == provider.policy.calls
        assert other.metrics() == provider.metrics()
    # A policy that cannot be pickled: the snapshot says so.
    unpicklable = cs.Provider(TOUR, policy=Answers(keep_alive_us=5))
    with pytest.raises(cs.SnapshotError) as error:
        unpicklable.snapshot()
    assert "cannot be pickled" in str(error.value)
    assert events


def test_a_log_of_a_python_policy_names_it_and_replays_with_it(tmp_path):
    log = tmp_path / "lastfit.jsonl"
    with cs.Recorder(log, TOUR, policy=LastFit()) as recorder:
        workload(recorder, count=12)
    header = json.loads(log.read_text().splitlines()[0])
    assert json.dumps(header).count('"custom"') == 1
    custom = header["header"]["policies"]["custom"] if "header" in header else header["policies"]["custom"]
    assert custom == {"name": "test_policy.LastFit", "parameters": '{"calls": 0}'}
    report = cs.replay(log, verify=True, policy=LastFit())
    assert report["completed"] == 12
    # Without the policy, or with another, the replay says what it needs.
    with pytest.raises(cs.LogError) as error:
        cs.replay(log, verify=True)
    assert str(error.value).startswith(f"{log}: ") and "test_policy.LastFit" in str(error.value)
    moved = LastFit()
    moved.calls = 3
    with pytest.raises(cs.LogError) as error:
        cs.replay(log, verify=True, policy=moved)
    assert "calls" in str(error.value)
    done = run_cli("replay", str(log), "--verify", check=False)
    assert done.returncode == 1 and "test_policy.LastFit" in done.stderr
    # A policy that decides otherwise under the same name does not verify.
    with pytest.raises(cs.LogError) as error:
        cs.replay(log, verify=True, policy=Named(FirstFitOnly(), "test_policy.LastFit", '{"calls": 0}'))
    assert "events diverge at step" in str(error.value)


class Named:
    def __init__(self, inner, name, parameters):
        self._inner = inner
        self.policy_name = name
        self.policy_parameters = parameters

    def select_host(self, view, request):
        return self._inner.select_host(view, request)


def test_identity_spelled_by_the_policy(tmp_path):
    log = tmp_path / "named.cslog"
    with cs.Recorder(log, TOUR, policy=Named(FirstFitOnly(), "mine", {"k": 3, "a": [1]})) as recorder:
        workload(recorder, count=3)
    policy = Named(FirstFitOnly(), "mine", {"a": [1], "k": 3})
    assert cs.replay(log, verify=True, policy=policy)["completed"] == 3


class Counting(FirstFitOnly):
    """First fit; counts the keep-alives it was asked for."""

    def __init__(self):
        self.asked = 0

    def keep_alive_us(self, container):
        self.asked += 1
        if self.asked > 1:
            raise RuntimeError("asked twice")
        return 1_000


def test_validate_tries_on_a_copy_of_the_policy():
    provider = cs.Provider(TOUR, policy=Counting())
    image = provider.apply(cs.register_image(0, MIB))[0]["image"]
    function = provider.apply(cs.register_function(0, image, MIB, MIB, 1_000_000))[0]["function"]
    first = provider.apply(cs.invoke(0, function, cs.success(1_000, 1)))[0]["invocation"]
    second = provider.apply(cs.invoke(0, function, cs.success(2_000, 1)))[0]["invocation"]
    provider.wait_for(first)
    assert provider.policy.asked == 1
    # Judging an input past the second's end runs the timers on a copy: its
    # policy is asked (and raises), this one is not, and goes on.
    with pytest.raises(cs.PolicyError) as error:
        provider.validate(cs.advance(10**6))
    assert "keep_alive_us raised RuntimeError: asked twice" in str(error.value)
    assert provider.policy.asked == 1
    provider.apply(cs.advance(provider.now_us + 1))
    assert provider.get_state(second)["state"] == "Running"


def test_an_interrupt_in_the_policy_goes_up_as_it_is():
    provider = cs.Provider(TOUR, policy=Answers(host=KeyboardInterrupt()))
    image = provider.apply(cs.register_image(0, MIB))[0]["image"]
    function = provider.apply(cs.register_function(0, image, MIB, MIB, 1_000_000))[0]["function"]
    with pytest.raises(KeyboardInterrupt):
        provider.apply(cs.invoke(0, function, cs.success(1_000, 1)))
    with pytest.raises(cs.PolicyError):  # stopped all the same
        provider.apply(cs.advance(10))


def test_a_recorder_whose_policy_fails_stops_and_still_finishes(tmp_path):
    log = tmp_path / "failed.jsonl"
    recorder = cs.Recorder(log, TOUR, policy=Answers(host="x"))
    image = recorder.apply(cs.register_image(0, MIB))[0]["image"]
    function = recorder.apply(cs.register_function(0, image, MIB, MIB, 1_000_000))[0]["function"]
    with pytest.raises(cs.PolicyError) as error:
        recorder.apply(cs.invoke(0, function, cs.success(1_000, 1)))
    assert "select_host returned 'x'" in str(error.value)
    with pytest.raises(cs.PolicyError) as stopped:
        recorder.drain()
    assert str(stopped.value).startswith("the recorder is stopped: PolicyError: policy test_policy.Answers: ")
    assert recorder.finish()["steps"] == 3
    # The log holds the steps as core ran them (first fit in the failed
    # hook's place): a policy that answers so replays it.
    first_fit = Named(FirstFitOnly(), "test_policy.Answers", json.dumps({"host": "x"}, sort_keys=True))
    assert cs.replay(log, verify=True, policy=first_fit)["cold_starts"] == 1


class SimfaasJoin:
    """SimFaaS's instance choice: the newest container with room, running,
    starting or idle (join_before_waking compares creation order)."""

    def __init__(self):
        self.asked = []

    def select_host(self, view, request):
        return view.first_fitting_host(request)

    def join_priority(self, join):
        self.asked.append(("join_priority", join.ready, join.invocations, join.concurrency))
        return 2**64 - 1 - join.created_seq

    def join_before_waking(self, join, idle):
        self.asked.append(("join_before_waking", join.container, idle.container))
        return join.created_seq > idle.created_seq


def concurrent_workload(provider):
    """One function of concurrency 2. A (30 s) and B (1 ms) share the
    first container, C (1 ms) finds it full and starts a second; at 5 s
    the first runs A with room for one more and the second is idle, so
    D's start asks join_before_waking. Returns the events and D's id."""
    image = provider.apply(cs.register_image(0, MIB))[0]["image"]
    function = provider.apply(
        cs.register_function(0, image, 64 * MIB, 0, 60_000_000, concurrency=2)
    )[0]["function"]
    events = []
    for run_us in (30_000_000, 1_000, 1_000):
        events += provider.apply(cs.invoke(0, function, cs.success(run_us, 1)))
    step = provider.apply(cs.invoke(5_000_000, function, cs.success(1_000, 1)))
    d = next(e["invocation"] for e in step if e["kind"] == "Accepted")
    events += step
    events += provider.apply(cs.advance(100_000_000))
    return events, d


def containers(events):
    """Container ids in the order they were created."""
    return [e["container"] for e in events if e["kind"] == "ColdStart"]


def test_python_policies_answer_the_join_hooks():
    default, d = concurrent_workload(cs.Provider(TOUR, policy=FirstFitOnly()))
    first, second = containers(default)
    warm = [e for e in default if e["kind"] == "WarmStart"]
    # B joined the first container while it started; by default D joins
    # the first (running code, with room) rather than wake the idle second.
    assert [e["container"] for e in warm] == [first, first]
    assert warm[1]["invocation"] == d

    policy = SimfaasJoin()
    own, d = concurrent_workload(cs.Provider(TOUR, policy=policy))
    first, second = containers(own)
    warm = [e for e in own if e["kind"] == "WarmStart"]
    # SimFaaS's rule: the newest with room, here the idle second container.
    assert [e["container"] for e in warm] == [first, second]
    assert warm[1]["invocation"] == d
    assert ("join_before_waking", first, second) in policy.asked
    assert any(call[0] == "join_priority" and not call[1] for call in policy.asked)
    for events in (default, own):
        assert sum(e["kind"] == "Completed" for e in events) == 4


def test_a_join_hook_that_answers_a_non_bool_fails_the_policy():
    class Bad(SimfaasJoin):
        def join_before_waking(self, join, idle):
            return 1

    with pytest.raises(cs.PolicyError) as error:
        concurrent_workload(cs.Provider(TOUR, policy=Bad()))
    assert "join_before_waking returned 1, not True or False" in str(error.value), str(error.value)
