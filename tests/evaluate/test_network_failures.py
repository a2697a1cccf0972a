"""Graded tests that failed on the network are named (an annotation of the report, never
a verdict): from pytest's failure sections, and from the whole output for other runners."""

from __future__ import annotations

from swelego_ray.evaluate._instance import InstanceResult
from swelego_ray.evaluate._network import network_failures
from swelego_ray.evaluate._report import build_report, render_markdown, summary_line
from swelego_ray.grading import GradeReport, Outcome

# The shape of `pytest -rA` output in a sandbox (no network, loopback up), trimmed.
PYTEST_OUTPUT = """\
============================= test session starts ==============================
collected 6 items

t.py EFFFFF                                                              [100%]

==================================== ERRORS ====================================
_______________________ ERROR at setup of test_fixture_net _____________________

    @pytest.fixture
    def net():
>       socket.getaddrinfo("example.org", 80)
E       socket.gaierror: [Errno -3] Temporary failure in name resolution
=================================== FAILURES ===================================
_______________________________ TestNet.test_dns _______________________________
E   requests.exceptions.ConnectionError: HTTPConnectionPool(host='httpbin.org',
E   port=80): Max retries exceeded (Caused by NameResolutionError("Failed to resolve
E   'httpbin.org' ([Errno -3] Temporary failure in name resolution)"))
__________________________ TestNet.test_unreach[a b] ___________________________
>               sock.connect(sa)
E               OSError: [Errno 101] Network is unreachable
_________________________________ test_refused _________________________________
E   ConnectionRefusedError: [Errno 111] Connection refused
__________________________________ test_plain __________________________________
E       assert 1 == 2
=========================== short test summary info ============================
ERROR t.py::test_fixture_net - socket.gaierror: [Errno -3] Temporary failu...
FAILED t.py::TestNet::test_dns - requests.exceptions.ConnectionError: HTTPCo...
FAILED t.py::TestNet::test_unreach[a b] - OSError: [Errno 101] Network i...
FAILED t.py::test_refused - ConnectionRefusedError: [Errno 111] Connection ...
FAILED t.py::test_plain - assert 1 == 2
"""


def test_pytest_sections_name_only_the_tests_that_failed_on_the_network():
    failing = [
        "t.py::test_fixture_net",
        "t.py::TestNet::test_dns",
        "t.py::TestNet::test_unreach[a",  # a public row's id, cut at the space
        "t.py::test_refused",  # loopback refused: a local server not started
        "t.py::test_plain",
    ]
    assert network_failures(PYTEST_OUTPUT, failing) == failing[:3]
    assert network_failures(PYTEST_OUTPUT, []) == []
    assert network_failures(PYTEST_OUTPUT.replace("[Errno", "[E"), failing[1:2]) == failing[1:2]


def test_other_runners_are_read_as_a_whole():
    django = (
        "ERROR: test_fetch (tests.T)\n"
        "URLError: <urlopen error [Errno -2] Name or service not known>\n"
    )
    assert network_failures(django, ["test_fetch (tests.T)"]) == ["test_fetch (tests.T)"]
    plain = "FAIL: test_x (tests.T)\nAssertionError\n"
    assert network_failures(plain, ["test_x (tests.T)"]) == []


def test_the_report_lists_them_apart_from_the_verdict():
    report = GradeReport(instance_id="o__r-1", outcome=Outcome.UNRESOLVED, reason="tests_failed")
    result = InstanceResult(
        instance_id="o__r-1", report=report, network_failures=["t.py::TestNet::test_dns"]
    )
    built = build_report(["o__r-1"], [result], {})
    assert built.network_ids == ["o__r-1"] and built.unresolved_ids == ["o__r-1"]
    assert built.network_failures == {"o__r-1": ["t.py::TestNet::test_dns"]}
    assert "failed on the network 1" in summary_line(built)
    assert "- `o__r-1` (1): `t.py::TestNet::test_dns`" in render_markdown(built)
