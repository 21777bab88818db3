#!/usr/bin/python3
"""docker_files_test: what can be proved about docker/ on a machine with no Docker engine.

- docker/prometheus/alerts.yml: `promtool check rules` passes, and `promtool test rules
  alerts_test.yml` fires every alert on its sample series (and only those).
- docker/prometheus/prometheus.yml: `promtool check config` passes (with the rule file path
  pointed at the repository's copy, as the compose file mounts it).
- docker/compose.yaml parses as YAML; its three services exist; every file it mounts exists;
  Prometheus scrapes sluice:8222 and Grafana gets the provisioning and dashboard folders.
- docker/grafana: the data source and dashboard provider files parse; the dashboard is valid JSON
  with a uid, and every panel queries the provisioned data source (the expressions themselves
  are evaluated by a real Prometheus in monitor_test).
- docker/Dockerfile: two stages on Debian 12; every COPY source exists; the build stage installs
  only packages scripts/setup.sh also installs; every runtime package has an install candidate
  in this machine's Debian archive (apt-cache), so the runtime stage resolves; it runs as a
  non-root USER, exposes 9092, 4222 and 8222, checks /healthz, and keeps data in a VOLUME.
- docker/sluice.service: the systemd unit runs --check-config before start and stops with
  SIGTERM (a clean shutdown).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402

NAME = "docker_files_test"
REPO = os.path.dirname(os.path.dirname(HERE))
D = os.path.join(REPO, "docker")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)


def body(ck):
    import yaml

    with ck.section("alert rules: promtool check and unit tests"):
        r = run(["promtool", "check", "rules", os.path.join(D, "prometheus", "alerts.yml")])
        ck.ok(r.returncode == 0 and "SUCCESS: 11 rules found" in r.stdout, "promtool check rules: %s%s" % (r.stdout, r.stderr))
        r = run(["promtool", "test", "rules", "alerts_test.yml"], cwd=os.path.join(D, "prometheus"))
        ck.ok(r.returncode == 0 and "SUCCESS" in r.stdout, "promtool test rules: %s%s" % (r.stdout, r.stderr))
        tested = set(re.findall(r"alertname: (\w+)", open(os.path.join(D, "prometheus", "alerts_test.yml")).read()))
        rules = yaml.safe_load(open(os.path.join(D, "prometheus", "alerts.yml")))
        names = {r_["alert"] for g in rules["groups"] for r_ in g["rules"]}
        ck.eq(tested, names, "every alert has a unit test")

    with ck.section("prometheus.yml"):
        tmp = tempfile.mkdtemp()
        try:
            text = open(os.path.join(D, "prometheus", "prometheus.yml")).read()
            ck.ok("/etc/prometheus/alerts.yml" in text and "sluice:8222" in text, "rule file and target")
            path = os.path.join(tmp, "prometheus.yml")
            open(path, "w").write(text.replace("/etc/prometheus/alerts.yml", os.path.join(D, "prometheus", "alerts.yml")))
            r = run(["promtool", "check", "config", path])
            ck.ok(r.returncode == 0, "promtool check config: %s%s" % (r.stdout, r.stderr))
        finally:
            shutil.rmtree(tmp)

    with ck.section("compose.yaml"):
        c = yaml.safe_load(open(os.path.join(D, "compose.yaml")))
        ck.eq(sorted(c["services"]), ["grafana", "prometheus", "sluice"], "services")
        s = c["services"]["sluice"]
        ck.eq((s["build"]["context"], s["build"]["dockerfile"]), ("..", "docker/Dockerfile"), "sluice build")
        ck.eq(sorted(s["ports"]), ["4222:4222", "8222:8222", "9092:9092"], "sluice ports")
        for svc in ("prometheus", "grafana"):
            for v in c["services"][svc]["volumes"]:
                src = v.split(":")[0]
                ck.ok(os.path.exists(os.path.join(D, src)), "%s mounts %s, which exists" % (svc, src))

    with ck.section("grafana provisioning and dashboard"):
        ds = yaml.safe_load(open(os.path.join(D, "grafana", "provisioning", "datasources", "prometheus.yml")))
        ck.eq((ds["datasources"][0]["type"], ds["datasources"][0]["uid"], ds["datasources"][0]["url"]),
              ("prometheus", "prometheus", "http://prometheus:9090"), "data source")
        pv = yaml.safe_load(open(os.path.join(D, "grafana", "provisioning", "dashboards", "sluice.yml")))
        ck.eq(pv["providers"][0]["options"]["path"], "/var/lib/grafana/dashboards", "dashboard provider path")
        dash = json.load(open(os.path.join(D, "grafana", "dashboards", "sluice.json")))
        ck.ok(dash["uid"] and len(dash["panels"]) >= 10, "dashboard uid and panels")
        for p in dash["panels"]:
            ck.ok(p["targets"] and all(t["datasource"]["uid"] == "prometheus" and "sluice_" in t["expr"] for t in p["targets"]),
                  "panel %r queries sluice_* series on the provisioned data source" % p["title"])
        titles = " ".join(p["title"] for p in dash["panels"]).lower()
        for word in ("lag", "disk", "retransmit", "connections", "jetstream", "requests"):
            ck.ok(word in titles, "a panel about %s" % word)

    with ck.section("Dockerfile"):
        text = open(os.path.join(D, "Dockerfile")).read()
        joined = text.replace("\\\n", " ")
        froms = re.findall(r"^FROM (\S+)", joined, re.M)
        ck.eq(froms, ["debian:12", "debian:12-slim"], "stages")
        for src in re.findall(r"^COPY (?!--from)(\S+)", joined, re.M):
            ck.ok(os.path.exists(os.path.join(REPO, src)), "COPY %s exists" % src)
        installs = re.findall(r"apt-get install -y --no-install-recommends ([^&]+)", joined)
        ck.eq(len(installs), 2, "one apt-get install per stage")
        setup = open(os.path.join(REPO, "scripts", "setup.sh")).read()
        for pkg in installs[0].split():
            ck.ok(re.search(r"[\s\"]%s[\s\"]" % re.escape(pkg), setup) is not None, "build package %s is in setup.sh" % pkg)
        runtime = installs[1].split()
        r = run(["apt-cache", "policy"] + runtime)
        cands = dict(re.findall(r"^(\S+):\n\s+Installed: .*\n\s+Candidate: (\S+)", r.stdout, re.M))
        for pkg in runtime:
            ck.ok(cands.get(pkg, "(none)") != "(none)", "runtime package %s resolves (%s)" % (pkg, cands.get(pkg)))
        ck.ok(re.search(r"^USER sluice$", joined, re.M) is not None, "non-root user")
        ck.ok(re.search(r"^EXPOSE 9092 4222 8222$", joined, re.M) is not None, "ports exposed")
        ck.ok(re.search(r"^HEALTHCHECK .*http://127\.0\.0\.1:8222/healthz", joined, re.M) is not None, "healthcheck")
        ck.ok(re.search(r"^VOLUME /var/lib/sluice/data$", joined, re.M) is not None, "data volume")

    with ck.section("systemd unit"):
        unit = open(os.path.join(D, "sluice.service")).read()
        ck.ok("ExecStartPre=/usr/local/bin/sluice-server -c /etc/sluice/sluice.conf --check-config" in unit, "check first")
        ck.ok("KillSignal=SIGTERM" in unit and "User=sluice" in unit, "clean stop, non-root")


if __name__ == "__main__":
    harness.run(NAME, body, tools=("promtool", "apt-cache"), modules=("yaml",), time_limit=120)
