"""One line of counts from a schemathesis 4.x JSON run report (`--report json`).

Usage: schemathesis_counts.py NAME REPORT.json
"""

import json
import sys

name, path = sys.argv[1], sys.argv[2]
try:
    with open(path) as f:
        report = json.load(f)
except (OSError, ValueError) as err:
    print(f"{name}: no report ({err})")
    sys.exit(0)

operations = report["operations"]
cases = report["test_cases"]
failures = [
    f"{f['code']} {f['title']}: {', '.join(f['operations'])}" for f in report["failures"]
]
errors = [
    f"{e.get('title', e.get('type', 'error'))}: {e.get('label') or e.get('operation') or ''}"
    for e in report["errors"]
]
print(
    f"{name}: operations {operations['tested']}/{operations['selected']} tested "
    f"({operations['total']} in the document), test cases {cases['generated']}, "
    f"failing cases {cases['with_failures']} ({cases['unique_failures']} unique), "
    f"errors {len(errors)}"
)
for line in failures + errors:
    print(f"  - {line}")
