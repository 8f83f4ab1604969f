"""report.html's gate section: the table, verdict and reasons, and the latency-over-time chart."""

import xml.etree.ElementTree as ET

import slo
from loadtest.gate import GeneratorHealth, evaluate
from loadtest.html_report import HEIGHT, TOP, add_to_report, gate_section, latency_chart
from loadtest.recorder import Recorder
from loadtest.timeline import IntervalSummary
from tests.loadtest.test_gate_report import INFO

SVG = "{http://www.w3.org/2000/svg}"
START = INFO.started_at


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 - the module's own output, checked as XML


def recorded() -> Recorder:
    # 60 s of requests: 4 ms, then 250 ms (slower than the 200 ms SLO) in the last 10 s.
    recorder = Recorder([200])
    for index in range(6000):
        second = index / 100
        millis = 250.0 if second >= 50 else 4.0
        recorder.record(millis, 503 if index < 10 else 200, failed=index < 10, at=START + second)
    return recorder


def section() -> str:
    recorder = recorded()
    result = evaluate(slo.load_slos(), recorder, GeneratorHealth())
    return gate_section(result, recorder.timeline.summaries(), [200.0], INFO, "prediction-service")


def test_the_section_has_the_verdict_reasons_and_one_row_per_objective():
    text = section()
    assert "<h2>SLO gate: prediction-service against http://127.0.0.1:8080</h2>" in text
    assert "<strong>FAIL</strong> (exit 1)" in text
    assert "<li>availability: 10 of 6,000 requests failed" in text
    root = parse(text)
    rows = root.findall(".//tr")
    assert rows[0][0].text == "objective"
    cells = [[cell.text for cell in row] for row in rows[1:]]
    assert [row[0] for row in cells] == ["availability", "latency"]
    assert cells[0][-1] == "FAIL" and cells[1][-1] == "FAIL"  # 1,000 of 6,000 slower than 200 ms
    assert cells[0][4].startswith("3.93 ") and "(2.77, -1.56)" in cells[0][4]


def test_the_chart_draws_p50_and_p99_per_interval_against_the_threshold():
    root = parse(section())
    svg = root.find(f".//{SVG}svg")
    p50, p99 = svg.findall(f"{SVG}polyline")
    assert len(p50.get("points").split()) == 12  # 60 s in 5-second intervals
    threshold = next(line for line in svg.findall(f"{SVG}line") if line.get("stroke-dasharray"))
    threshold_y = float(threshold.get("y1"))
    ys = [float(point.split(",")[1]) for point in p99.get("points").split()]
    # SVG y grows downwards: 4 ms intervals below the threshold line, 250 ms ones above it.
    assert all(y > threshold_y for y in ys[:10]) and all(y < threshold_y for y in ys[10:])
    assert min(ys) >= TOP and max(ys) <= HEIGHT
    assert any(t.text == "SLO threshold 200 ms" for t in svg.iter(f"{SVG}text"))


def test_an_empty_run_has_no_chart_but_says_why():
    assert "No request was recorded" in latency_chart([], [200.0], None)


def test_a_single_interval_still_draws():
    chart = latency_chart([IntervalSummary(START, 10, 0, 5.0, 9.0)], [200.0], START)
    assert parse(chart).findall(f"{SVG}polyline")


def test_the_section_goes_on_top_of_locusts_report(tmp_path):
    path = tmp_path / "report.html"
    path.write_text('<html><head></head><body class="x"><div id="root"></div></body></html>')
    add_to_report(path, '<section id="slo-gate">gate</section>')
    assert path.read_text() == (
        '<html><head></head><body class="x"><section id="slo-gate">gate</section>'
        '<div id="root"></div></body></html>'
    )


def test_without_locusts_report_the_section_is_a_page_of_its_own(tmp_path):
    path = tmp_path / "run" / "report.html"
    add_to_report(path, '<section id="slo-gate">gate</section>')
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and '<section id="slo-gate">gate</section>' in text


def test_text_from_the_run_is_escaped():
    recorder = recorded()
    result = evaluate(slo.load_slos(), recorder, GeneratorHealth())
    text = gate_section(result, [], [200.0], INFO, "<script>alert(1)</script>")
    assert "<script>" not in text and "&lt;script&gt;" in text
