"""Add up pytest JUnit XML files and print one closing line: 'total: N passed, N failed, N skipped',
after the tests that cost the most CPU (the `cpu_s` property the integration tests record)."""
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
costs = []
for path in sys.argv[1:]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        print(f"summarise-junit: {path}: {exc}", file=sys.stderr)
        failed += 1
        continue
    for suite in ([root] if root.tag == "testsuite" else root.iter("testsuite")):
        tests = int(suite.get("tests", 0))
        bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skip = int(suite.get("skipped", 0))
        passed += tests - bad - skip
        failed += bad
        skipped += skip
        for case in suite.iter("testcase"):
            for prop in case.iter("property"):
                if prop.get("name") == "cpu_s":
                    costs.append((float(prop.get("value")), float(case.get("time", 0)), case.get("name")))
if costs:
    costs.sort(reverse=True)
    print(f"CPU of the processes the integration tests started: {sum(c for c, _t, _n in costs):.0f} s; the largest:")
    for cpu, wall, name in costs[:12]:
        print(f"  {cpu:6.1f} s CPU {wall:6.1f} s wall  {name}")
print(f"total: {passed} passed, {failed} failed, {skipped} skipped")
