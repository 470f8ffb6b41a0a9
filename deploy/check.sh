#!/usr/bin/env bash
# Offline checks of everything in deploy/. Run from anywhere:
#   bash deploy/check.sh
# Needs promtool (Debian: apt-get install prometheus) and python3 with PyYAML.
# Optional: systemd-analyze (unit files), check-jsonschema (pip; validates
# compose.yml against the Compose specification), docker compose (parses
# compose.yml). A missing optional tool is reported and skipped; any failed
# check makes the script exit non-zero.
set -euo pipefail

deploy="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failed=0
step() { printf '\n== %s\n' "$*"; }
run() { "$@" || { echo "FAILED: $*"; failed=1; }; }
skip() { echo "skipped: $*"; }

step "Prometheus configuration"
if command -v promtool >/dev/null; then
  # prometheus.yml reads the bearer token from zenzefi_metrics_token next to
  # it, which promtool wants to exist: check a copy with a placeholder.
  mkdir "$tmp/prometheus"
  cp "$deploy/prometheus/prometheus.yml" "$deploy/prometheus/alerts.yml" "$tmp/prometheus/"
  printf 'placeholder' > "$tmp/prometheus/zenzefi_metrics_token"
  run promtool check config "$tmp/prometheus/prometheus.yml"
  run promtool check rules "$deploy/prometheus/alerts.yml"
  run promtool test rules "$deploy/prometheus/alerts_test.yml"
else
  echo "FAILED: promtool not found (apt-get install prometheus)"; failed=1
fi

step "Grafana dashboard"
if python3 -m json.tool "$deploy/grafana/zenzefi-dashboard.json" >/dev/null; then echo "valid JSON"; else echo "FAILED: dashboard JSON"; failed=1; fi
if command -v promtool >/dev/null; then
  # Every panel query must parse as PromQL: turn them into recording rules
  # (Grafana's $variables replaced by plain values) and let promtool parse them.
  python3 - "$deploy/grafana/zenzefi-dashboard.json" "$tmp/dashboard_rules.yml" <<'PY' || { echo "FAILED: dashboard queries"; failed=1; }
import json, sys, yaml
dash = json.load(open(sys.argv[1]))
rules = []
for panel in dash["panels"]:
    for i, t in enumerate(panel.get("targets", [])):
        expr = (t["expr"].replace("$__rate_interval", "1m").replace("$__range", "1h")
                .replace("$instance", ".*"))
        rules.append({"record": f"dashboard:panel{panel['id']}_{i}", "expr": expr})
yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(sys.argv[2], "w"))
PY
  [ -s "$tmp/dashboard_rules.yml" ] && run promtool check rules "$tmp/dashboard_rules.yml"
fi

step "systemd units"
if command -v systemd-analyze >/dev/null; then
  # Verify against a scratch root holding the system's units and stand-ins
  # for the two binaries, so that nothing needs installing on this machine.
  root="$tmp/root"
  mkdir -p "$root/etc/systemd/system" "$root/usr/local/bin" "$root/usr/lib/systemd"
  cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
  ln -s usr/lib "$root/lib"
  for b in zenzefi-api zenzefi-worker; do printf '#!/bin/sh\n' > "$root/usr/local/bin/$b"; chmod +x "$root/usr/local/bin/$b"; done
  cp "$deploy"/systemd/*.service "$root/etc/systemd/system/"
  out="$(cd "$tmp" && systemd-analyze verify --root="$root" zenzefi-api.service zenzefi-worker.service 2>&1)" \
    || { echo "$out"; echo "FAILED: systemd-analyze verify"; failed=1; }
  if [ -n "$out" ]; then echo "$out"; echo "FAILED: systemd-analyze verify printed warnings"; failed=1; else echo "systemd-analyze verify: no findings"; fi
  for u in zenzefi-api zenzefi-worker; do
    (cd "$tmp" && systemd-analyze security --offline=yes --root="$root" "$u.service" 2>/dev/null | grep 'Overall exposure') || true
  done
else
  skip "systemd-analyze not installed"
fi

step "Container image"
# SPEC §16.4: the image fails closed (production refuses development secrets).
if grep -Eq '^ENV ZENZEFI__ENVIRONMENT=production' "$deploy/docker/Dockerfile"; then
  echo "Dockerfile sets ZENZEFI__ENVIRONMENT=production"
else
  echo "FAILED: deploy/docker/Dockerfile does not set ZENZEFI__ENVIRONMENT=production"; failed=1
fi

step "Docker Compose file"
if docker compose version >/dev/null 2>&1; then
  if ZENZEFI_DB_PASSWORD=x ZENZEFI_JWT_SECRET=x ZENZEFI_WEBHOOK_SECRET=x ZENZEFI_METRICS_TOKEN=x \
      ZENZEFI_UPSTREAM_URL=http://upstream docker compose -f "$deploy/docker/compose.yml" config --quiet; then
    echo "docker compose config: OK"
  else
    echo "FAILED: docker compose config"; failed=1
  fi
else
  skip "docker compose not available"
fi
if command -v check-jsonschema >/dev/null; then
  run check-jsonschema --builtin-schema vendor.compose-spec "$deploy/docker/compose.yml"
else
  skip "check-jsonschema not installed (pip install check-jsonschema)"
fi
python3 - "$deploy/docker/compose.yml" <<'PY' || failed=1
import os, sys, yaml
path = sys.argv[1]
base = os.path.dirname(path)
doc = yaml.safe_load(open(path))  # expands the << merge keys
services, errors = doc["services"], []
for name, svc in services.items():
    deps = svc.get("depends_on", {})
    for dep in (deps if isinstance(deps, list) else deps.keys()):
        if dep not in services:
            errors.append(f"{name}: depends_on unknown service {dep}")
    for v in svc.get("volumes", []):
        src = v.split(":")[0]
        if src.startswith("."):
            if not os.path.exists(os.path.join(base, src)):
                errors.append(f"{name}: bind-mount source {src} does not exist")
        elif src not in (doc.get("volumes") or {}):
            errors.append(f"{name}: named volume {src} not declared")
    for s in svc.get("secrets", []):
        s = s["source"] if isinstance(s, dict) else s
        if s not in (doc.get("secrets") or {}):
            errors.append(f"{name}: secret {s} not declared")
    if "build" in svc:
        b = svc["build"]
        if not os.path.isfile(os.path.join(base, b["context"], b["dockerfile"])):
            errors.append(f"{name}: {b['dockerfile']} not found in build context {b['context']}")
print("\n".join(errors) if errors else "compose.yml cross-checks (references, mounts, build paths): OK")
sys.exit(1 if errors else 0)
PY

echo
if [ "$failed" -ne 0 ]; then echo "deploy checks: FAILED"; exit 1; fi
echo "deploy checks: OK"
