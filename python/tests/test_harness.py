"""The policy harness on policies written in Python."""

import pytest

import coldstart as cs
from test_policy import FirstFitOnly, MIB, TOUR
from test_step import registered


class HostSeven:
    """Names a host that does not exist."""

    def select_host(self, view, request):
        return 7


class Fickle:
    """Declines every other call, counted in a class attribute (global state)."""

    calls = 0

    def select_host(self, view, request):
        Fickle.calls += 1
        return view.first_fitting_host(request) if Fickle.calls % 2 else None


class Raising:
    def select_host(self, view, request):
        raise KeyError("no such thing")


def test_a_good_policy_passes():
    assert cs.check_policy(FirstFitOnly(), cases=24, seed=3) is None


def test_a_refused_decision_is_found_shrunk_and_reproduced(tmp_path):
    with pytest.raises(cs.PolicyFinding) as error:
        cs.check_policy(HostSeven(), cases=32, seed=1)
    finding = error.value.finding
    assert isinstance(error.value, cs.HarnessError) and isinstance(error.value, cs.Error)
    assert finding.kind == "refused decision"
    assert str(error.value) == finding.problem
    assert finding.problem.startswith("refused decision: host#7 for inv#")
    assert finding.details["DecisionRefused"]["reason"] == "UnknownHost"
    assert list(finding.details) == ["DecisionRefused"]
    assert finding.details["DecisionRefused"]["host"] == 7
    # Shrunk: an image, a function, and the invocation that showed it.
    commands = [input["command"] for input in finding.inputs]
    assert commands[-1] == "Invoke" and commands.count("Invoke") == 1, commands
    assert len(finding.config["hosts"]) >= 1
    assert finding.problem in str(finding) and f"inputs ({len(finding.inputs)}):" in str(finding)

    # The finding's inputs, applied to a provider of its configuration,
    # show the refusal.
    provider = finding.provider(HostSeven())
    events = []
    for input in finding.inputs:
        try:
            events += provider.apply(input)
        except cs.Refused:
            pass  # cases hold bad inputs on purpose
    assert [e["kind"] for e in events].count("DecisionRefused") == 1
    assert provider.config() == finding.config
    # Checked again: still there with the policy, gone with first fit.
    with pytest.raises(cs.PolicyFinding) as again:
        finding.check(HostSeven())
    assert again.value.finding.problem == finding.problem
    finding.check(FirstFitOnly())
    with pytest.raises(cs.PolicyFinding):
        cs.check_inputs(HostSeven(), finding.config, finding.inputs)

    # Kept as JSON, and as a pytest regression test that fails while the
    # problem is there.
    kept = cs.Finding.from_json(finding.to_json())
    assert kept.inputs == finding.inputs and kept.config == finding.config
    test = finding.regression_test("test_host_seven", "HostSeven()")
    assert test.startswith("def test_host_seven():\n")
    namespace = {"coldstart": cs, "HostSeven": HostSeven}
    exec(test, namespace)
    with pytest.raises(cs.PolicyFinding):
        namespace["test_host_seven"]()

    # Recorded as a log, replayed with the policy.
    log = tmp_path / "finding.jsonl"
    finding.record(log, HostSeven())
    report = cs.replay(log, verify=True, policy=HostSeven())
    assert report["rejected"] >= 1 and report["cold_starts"] == 0


def test_the_same_seed_finds_the_same():
    findings = []
    for _ in range(2):
        with pytest.raises(cs.PolicyFinding) as error:
            cs.check_policy(HostSeven(), cases=16, seed=9)
        findings.append(error.value.finding.to_json())
    assert findings[0] == findings[1]


def test_nondeterminism_is_found():
    with pytest.raises(cs.PolicyFinding) as error:
        cs.check_policy(Fickle(), cases=32, seed=0)
    assert error.value.finding.kind == "nondeterminism"
    assert error.value.finding.problem.startswith("nondeterminism: two runs of the same inputs ")


def test_an_exception_in_the_policy_is_raised_not_a_finding():
    with pytest.raises(cs.PolicyError) as error:
        cs.check_policy(Raising(), cases=8)
    assert str(error.value) == "policy test_harness.Raising: select_host raised KeyError: 'no such thing'"
    assert isinstance(error.value.__cause__, KeyError)


def test_check_inputs_on_a_users_configuration():
    provider, function = registered()
    inputs = [
        cs.register_image(0, 200 * MIB),
        cs.register_function(0, 0, 512 * MIB, 512 * MIB, 3_000_000),
        cs.invoke(1_000, 0, cs.success(50_000, 42)),
    ]
    cs.check_inputs(FirstFitOnly(), TOUR, inputs)
    cs.check_inputs(FirstFitOnly(), provider.config(), inputs)
    with pytest.raises(cs.PolicyFinding) as error:
        cs.check_inputs(HostSeven(), TOUR, inputs)
    finding = error.value.finding
    assert finding.problem.startswith("refused decision: host#7 for inv#0.0: ")
    assert finding.details == {"DecisionRefused": {"invocation": 0, "host": 7, "reason": "UnknownHost"}}
    assert finding.inputs == inputs
    assert finding.config == cs.Provider(TOUR).config()
    with pytest.raises(cs.ScenarioError):
        cs.check_inputs(FirstFitOnly(), {"provider": {"nope": 1}}, inputs)
    with pytest.raises(cs.ConfigError):
        cs.check_inputs(FirstFitOnly(), {"hosts": "many"}, inputs)


def test_cases_on_a_users_configuration_and_fuzz_bytes():
    cs.check_policy(
        FirstFitOnly(), cases=8, config=TOUR, scale=(100 * MIB, 1_000), starvation_bound_us=10_000_000
    )
    with pytest.raises(cs.PolicyFinding) as error:
        cs.check_policy(HostSeven(), cases=8, config=TOUR, scale=(100 * MIB, 1_000))
    assert len(error.value.finding.config["hosts"]) == 2
    data = bytes(range(256)) * 8
    cs.fuzz_policy(FirstFitOnly(), data)
    with pytest.raises(cs.PolicyFinding) as error:
        cs.fuzz_policy(HostSeven(), data)
    assert error.value.finding.kind == "refused decision"
    with pytest.raises(cs.ConfigError):
        cs.check_policy(FirstFitOnly(), cases=1, config={"hosts": []})
