#!/usr/bin/env python3
"""Offline validation of Floe's Kubernetes manifests (no API server needed).

    python3 deploy/k8s/check.py [TARGET ...] [--tools BIN_DIR] [--floe FLOE_BIN]

TARGET is a kustomization directory, relative to deploy/k8s/ or absolute; by default every
deployable overlay (overlays/dev, overlays/prod, overlays/with-etcd) and tests/prod-sasl (prod
with components/kafka-sasl). For each target:

1. render it with `kubectl kustomize` (kubectl from scripts/k8s-tools.sh, or --tools);
2. `kubernetes-validate --strict` against each Kubernetes version in K8S_VERSIONS (schemas:
   unknown or misspelt fields, wrong types, missing required fields);
3. what a schema cannot see, on the rendered objects:
   - a workload's selector matches its pod template's labels; every Service and
     PodDisruptionBudget selects some pod template; a Service's targetPorts are containerPorts;
     a StatefulSet's serviceName is a Service of the output;
   - every ConfigMap/Secret reference (env valueFrom, envFrom, volumes, projected volumes)
     names an object of the output that has the key; for Secrets, overlays listed in
     external-secrets.yaml may instead name one of the Secrets listed there (name and key), and
     must not render any Secret themselves;
   - every probe's port is a containerPort of its container (by number or name); the floe
     containers have readiness and liveness probes GET /healthz on their --admin port;
   - prometheus.io/scrape pods name a containerPort in prometheus.io/port and a path;
     floe pods are scraped on their --admin port;
   - resources: cpu and memory requests and limits on every container, requests <= limits;
   - securityContext: runAsNonRoot, readOnlyRootFilesystem, no privilege escalation, ALL
     capabilities dropped; images carry a tag that is not `latest` (or a digest);
   - workers: terminationGracePeriodSeconds > their --leave-timeout (default 120 s);
   - every floe container's command line, with $(VAR) expanded from its env as the kubelet does
     (fieldRef values and Secret values replaced by plausible dummies), is accepted by
     `$FLOE_BIN --check-args ...`;
   - a coordinator's job file (--config, from a ConfigMap of the output) is valid TOML, passes
     floe's own config validation (the coordinator is started with a dead etcd address: it
     validates the file and the overrides, then fails to reach etcd), and defines the same job
     as base/floe.toml apart from [job.source.properties].

It exits 1 naming every problem found ("PROBLEM [target] ..."), 0 when there is none. A missing
FLOE_BIN, or one without --check-args, is a problem too: never a silent pass.
"""

import argparse
import base64
import copy
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# The Kubernetes versions the manifests must be valid for: the oldest we support, one in the
# middle, and the newest the pinned kubernetes-validate (scripts/k8s-tools.sh) knows.
K8S_VERSIONS = ["1.30.0", "1.33.0", "1.37.0"]

DEFAULT_TARGETS = ["overlays/dev", "overlays/prod", "overlays/with-etcd", "tests/prod-sasl"]
FLOE_IMAGE = "ghcr.io/floe-rs/floe"
DEFAULT_LEAVE_TIMEOUT_S = 120.0
WORKLOAD_KINDS = {"StatefulSet", "Deployment", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}


# ----------------------------------------------------------------------------- tools

def tools_dir(given):
    """The bin dir holding kubectl, kubernetes-validate and a python with PyYAML."""
    if given:
        return given
    if os.environ.get("FLOE_K8S_TOOLS"):
        return os.environ["FLOE_K8S_TOOLS"]
    out = subprocess.run([os.path.join(REPO, "scripts", "k8s-tools.sh")],
                         stdout=subprocess.PIPE, check=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def ensure_yaml(bin_dir):
    """Re-runs this script with the tools venv's python when this one has no PyYAML."""
    try:
        import yaml  # noqa: F401
        return
    except ImportError:
        pass
    venv_python = os.path.join(bin_dir, "python")
    # (Compare prefixes: a venv's python is a symlink to the same interpreter as any other.)
    in_venv = os.path.realpath(sys.prefix) == os.path.realpath(os.path.dirname(bin_dir))
    if in_venv or os.environ.get("FLOE_K8S_CHECK_REEXEC"):
        sys.exit("check.py: PyYAML is missing from %s (run scripts/k8s-tools.sh)" % bin_dir)
    env = dict(os.environ, FLOE_K8S_CHECK_REEXEC="1", FLOE_K8S_TOOLS=bin_dir)
    os.execve(venv_python, [venv_python, os.path.abspath(__file__)] + sys.argv[1:], env)


def find_floe(given):
    """FLOE_BIN: --floe or $FLOE_BIN when given (and then only that), else the release build in
    $CARGO_TARGET_DIR or the repository's target dir. (path, None) or (None, why not)."""
    explicit = given or os.environ.get("FLOE_BIN")
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit, None
        return None, "FLOE_BIN %s does not exist or is not executable" % explicit
    candidates = []
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(os.path.join(os.environ["CARGO_TARGET_DIR"], "release", "floe"))
    candidates.append(os.path.join(REPO, "target", "release", "floe"))
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c, None
    return None, ("no floe binary (set FLOE_BIN or build it: cargo build --release -p floe-cli); "
                  "tried " + ", ".join(candidates))


# ----------------------------------------------------------------------------- small helpers

_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_SUFFIX = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def quantity(text):
    m = _QUANTITY.match(str(text).strip())
    if not m:
        return None
    return float(m.group(1)) * _SUFFIX[m.group(2)]


def duration_s(text):
    """`120s`, `2m`, `500ms`, `1h`, `1d`, `1m30s` -> seconds (None if unreadable)."""
    text = str(text).strip()
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    unit = {"ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(float(n) * unit[u] for n, u in parts)


def selector_matches(selector, labels):
    """A LabelSelector (matchLabels + matchExpressions) against a label map."""
    if not selector:
        return False
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return bool(selector.get("matchLabels") or selector.get("matchExpressions"))


def fmt_labels(labels):
    return "{" + ", ".join("%s=%s" % kv for kv in sorted((labels or {}).items())) + "}"


def expand(text, env):
    """Kubernetes' $(VAR) expansion: defined names are replaced, $$ escapes, others stay."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i) and ")" in text[i:]:
            end = text.index(")", i)
            name = text[i + 2:end]
            if name in env:
                out.append(env[name])
            else:
                out.append(text[i:end + 1])
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def image_repo(image):
    image = image or ""
    if "@" in image:
        return image.split("@", 1)[0]
    last = image.rsplit("/", 1)[-1]
    return image[: len(image) - len(last.split(":", 1)[1]) - 1] if ":" in last else image


def strip_source_properties(doc):
    doc = copy.deepcopy(doc)
    for job in doc.get("job") or []:
        (job.get("source") or {}).pop("properties", None)
    return doc


# ----------------------------------------------------------------------------- the checks

# The image whose entrypoint checks the command lines (--image), else the binary does.
IMAGE = None

class Target:
    def __init__(self, name, path, docs, external, floe_bin, base_job):
        self.name = name
        self.path = path
        self.docs = [d for d in docs if isinstance(d, dict)]
        self.external = external          # {secret name: [keys]} or None
        self.floe_bin = floe_bin
        self.base_job = base_job
        self.problems = []
        self.notes = []
        self.objects = {}                 # (kind, namespace, name) -> object
        for d in self.docs:
            md = d.get("metadata") or {}
            self.objects[(d.get("kind"), md.get("namespace"), md.get("name"))] = d

    def problem(self, msg):
        self.problems.append(msg)

    def get(self, kind, ns, name):
        return self.objects.get((kind, ns, name))

    def of_kind(self, *kinds):
        return [d for d in self.docs if d.get("kind") in kinds]

    # -- pod templates ------------------------------------------------------------------
    def pod_templates(self):
        """(workload object, pod template metadata, pod spec) for every workload."""
        out = []
        for w in self.of_kind(*WORKLOAD_KINDS):
            kind = w["kind"]
            if kind == "Pod":
                tpl = w
            elif kind == "CronJob":
                tpl = (((w.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
            else:
                tpl = (w.get("spec") or {}).get("template") or {}
            out.append((w, tpl.get("metadata") or {}, tpl.get("spec") or {}))
        return out

    @staticmethod
    def ident(obj):
        return "%s %s" % (obj.get("kind"), (obj.get("metadata") or {}).get("name"))

    @staticmethod
    def ns(obj):
        return (obj.get("metadata") or {}).get("namespace")

    # -- 1. selectors -------------------------------------------------------------------
    def check_selectors(self):
        templates = self.pod_templates()
        for w, tmeta, _ in templates:
            if w["kind"] in ("Pod", "CronJob", "Job"):
                continue
            sel = (w.get("spec") or {}).get("selector")
            labels = tmeta.get("labels") or {}
            if not selector_matches(sel, labels):
                self.problem("%s: selector %s does not match its pod template labels %s"
                             % (self.ident(w), fmt_labels((sel or {}).get("matchLabels")),
                                fmt_labels(labels)))
            if w["kind"] == "StatefulSet":
                svc_name = w["spec"].get("serviceName")
                svc = self.get("Service", self.ns(w), svc_name)
                if not svc:
                    self.problem("%s: serviceName %r is not a Service of the output"
                                 % (self.ident(w), svc_name))
                elif (svc.get("spec") or {}).get("clusterIP") != "None" and self.is_floe_workload(w):
                    self.problem("%s: its Service %s is not headless (clusterIP: None): the pods "
                                 "would get no per-pod DNS names" % (self.ident(w), svc_name))
        for svc in self.of_kind("Service"):
            sel = (svc.get("spec") or {}).get("selector")
            if not sel:
                continue  # a Service without selector is managed by hand; nothing to match
            matched = [(w, m, s) for w, m, s in templates
                       if self.ns(w) == self.ns(svc) and selector_matches({"matchLabels": sel}, m.get("labels"))]
            if not matched:
                self.problem("Service %s: selector %s matches no pod template"
                             % (svc["metadata"]["name"], fmt_labels(sel)))
                continue
            for port in (svc.get("spec") or {}).get("ports") or []:
                target = port.get("targetPort", port.get("port"))
                for w, _, spec in matched:
                    if not self.pod_has_port(spec, target):
                        self.problem("Service %s: targetPort %s (port %s) is not a containerPort of %s"
                                     % (svc["metadata"]["name"], target, port.get("name") or port.get("port"),
                                        self.ident(w)))
        for pdb in self.of_kind("PodDisruptionBudget"):
            sel = (pdb.get("spec") or {}).get("selector")
            if not any(self.ns(w) == self.ns(pdb) and selector_matches(sel, m.get("labels"))
                       for w, m, _ in templates):
                self.problem("PodDisruptionBudget %s: selector %s matches no workload's pods"
                             % (pdb["metadata"]["name"], fmt_labels((sel or {}).get("matchLabels"))))

    @staticmethod
    def containers(spec):
        return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])

    @staticmethod
    def container_has_port(c, port):
        for p in c.get("ports") or []:
            if isinstance(port, int) and p.get("containerPort") == port:
                return True
            if isinstance(port, str) and (p.get("name") == port or str(p.get("containerPort")) == port):
                return True
        return False

    def pod_has_port(self, spec, port):
        return any(self.container_has_port(c, port) for c in self.containers(spec))

    def is_floe_workload(self, w):
        tpl = (w.get("spec") or {}).get("template") or {}
        return any(image_repo(c.get("image")) == FLOE_IMAGE
                   for c in ((tpl.get("spec") or {}).get("containers") or []))

    # -- 2. references ------------------------------------------------------------------
    def lookup(self, kind, ns, name, key, what, optional=False):
        """A ConfigMap/Secret reference: a problem unless it resolves (or is optional)."""
        obj = self.get(kind, ns, name)
        if obj is not None:
            if key is None:
                return
            keys = set((obj.get("data") or {}).keys()) | set((obj.get("binaryData") or {}).keys()) | \
                set((obj.get("stringData") or {}).keys())
            if key not in keys and not optional:
                self.problem("%s: %s %s has no key `%s` (it has: %s)"
                             % (what, kind, name, key, ", ".join(sorted(keys)) or "none"))
            return
        if kind == "Secret" and self.external is not None and name in self.external:
            if key is not None and key not in self.external[name] and not optional:
                self.problem("%s: external Secret %s has no key `%s` in external-secrets.yaml (listed: %s)"
                             % (what, name, key, ", ".join(self.external[name])))
            return
        if optional:
            return
        hint = ""
        if kind == "Secret" and self.external is None:
            hint = " (this overlay is not allowed external Secrets: see external-secrets.yaml)"
        elif kind == "Secret":
            hint = " (nor listed in external-secrets.yaml)"
        self.problem("%s: %s %s is not in the rendered output%s" % (what, kind, name, hint))

    def check_references(self):
        for w, _, spec in self.pod_templates():
            ns = self.ns(w)
            for c in self.containers(spec):
                where = "%s container %s" % (self.ident(w), c.get("name"))
                for e in c.get("env") or []:
                    vf = e.get("valueFrom") or {}
                    for kind, field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                        ref = vf.get(field)
                        if ref:
                            self.lookup(kind, ns, ref.get("name"), ref.get("key"),
                                        "%s env %s" % (where, e.get("name")), ref.get("optional", False))
                for ef in c.get("envFrom") or []:
                    for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                        ref = ef.get(field)
                        if ref:
                            self.lookup(kind, ns, ref.get("name"), None, "%s envFrom" % where,
                                        ref.get("optional", False))
                volumes = {v.get("name") for v in spec.get("volumes") or []}
                # A StatefulSet's volumeClaimTemplates are volumes of its pods too.
                volumes |= {(t.get("metadata") or {}).get("name")
                            for t in (w.get("spec") or {}).get("volumeClaimTemplates") or []
                            if w.get("kind") == "StatefulSet"}
                for m in c.get("volumeMounts") or []:
                    if m.get("name") not in volumes:
                        self.problem("%s: volumeMount %s names no volume of the pod" % (where, m.get("name")))
            for v in spec.get("volumes") or []:
                where = "%s volume %s" % (self.ident(w), v.get("name"))
                sources = []
                if v.get("configMap"):
                    sources.append(("ConfigMap", v["configMap"].get("name"), v["configMap"]))
                if v.get("secret"):
                    sources.append(("Secret", v["secret"].get("secretName"), v["secret"]))
                for p in (v.get("projected") or {}).get("sources") or []:
                    if p.get("configMap"):
                        sources.append(("ConfigMap", p["configMap"].get("name"), p["configMap"]))
                    if p.get("secret"):
                        sources.append(("Secret", p["secret"].get("name"), p["secret"]))
                for kind, name, src in sources:
                    optional = src.get("optional", False)
                    self.lookup(kind, ns, name, None, where, optional)
                    for item in src.get("items") or []:
                        self.lookup(kind, ns, name, item.get("key"), where, optional)
        if self.external is not None:
            for s in self.of_kind("Secret"):
                self.problem("Secret %s is rendered into an overlay whose Secrets are external: "
                             "secret values never belong in base or prod" % s["metadata"]["name"])

    # -- 3. probes, ports, prometheus, resources, security ------------------------------
    def check_pods(self):
        for w, tmeta, spec in self.pod_templates():
            ann = tmeta.get("annotations") or {}
            if str(ann.get("prometheus.io/scrape", "")).lower() == "true":
                port = ann.get("prometheus.io/port")
                if port is None or not str(port).isdigit() or not self.pod_has_port(spec, int(port)):
                    self.problem("%s: prometheus.io/port %r is not a containerPort of the pod"
                                 % (self.ident(w), port))
                path = ann.get("prometheus.io/path", "/metrics")
                if not str(path).startswith("/"):
                    self.problem("%s: prometheus.io/path %r is not a path" % (self.ident(w), path))
            pod_sc = spec.get("securityContext") or {}
            for c in self.containers(spec):
                where = "%s container %s" % (self.ident(w), c.get("name"))
                for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
                    probe = c.get(probe_name)
                    if not probe:
                        continue
                    for handler in ("httpGet", "tcpSocket", "grpc"):
                        if handler in probe:
                            port = probe[handler].get("port")
                            if not self.container_has_port(c, port):
                                self.problem("%s: %s port %s is not a containerPort of the container "
                                             "(declared: %s)" % (where, probe_name, port,
                                                                 self.port_list(c)))
                res = c.get("resources") or {}
                for r in ("cpu", "memory"):
                    req = (res.get("requests") or {}).get(r)
                    lim = (res.get("limits") or {}).get(r)
                    if req is None or lim is None:
                        self.problem("%s: resources need both requests.%s and limits.%s" % (where, r, r))
                    elif quantity(req) is None or quantity(lim) is None:
                        self.problem("%s: unreadable %s quantity %r / %r" % (where, r, req, lim))
                    elif quantity(req) > quantity(lim):
                        self.problem("%s: requests.%s %s exceeds limits.%s %s" % (where, r, req, r, lim))
                sc = c.get("securityContext") or {}
                if not (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True):
                    self.problem("%s: runAsNonRoot is not true" % where)
                if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
                    self.problem("%s: runAsUser is 0 (root)" % where)
                if sc.get("readOnlyRootFilesystem") is not True:
                    self.problem("%s: readOnlyRootFilesystem is not true" % where)
                if sc.get("allowPrivilegeEscalation") is not False:
                    self.problem("%s: allowPrivilegeEscalation is not false" % where)
                if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                    self.problem("%s: capabilities.drop does not contain ALL" % where)
                image = c.get("image") or ""
                last = image.rsplit("/", 1)[-1]
                if "@" not in image and (":" not in last or last.endswith(":latest")):
                    self.problem("%s: image %r has no pinned tag (none, or latest)" % (where, image))

    @staticmethod
    def port_list(c):
        return ", ".join("%s/%s" % (p.get("name", "-"), p.get("containerPort"))
                         for p in c.get("ports") or []) or "none"

    # -- 4. floe command lines ----------------------------------------------------------
    def container_env(self, w, c):
        """The container's environment as the kubelet would build it, with dummies where the
        value only exists in a running pod (fieldRef) or outside the output (Secrets)."""
        ns = self.ns(w) or "default"
        name = (w.get("metadata") or {}).get("name", "pod")
        env = {}
        for ef in c.get("envFrom") or []:
            prefix = ef.get("prefix", "")
            if ef.get("configMapRef"):
                cm = self.get("ConfigMap", self.ns(w), ef["configMapRef"].get("name"))
                for k, v in ((cm or {}).get("data") or {}).items():
                    env[prefix + k] = v
            if ef.get("secretRef"):
                s = self.get("Secret", self.ns(w), ef["secretRef"].get("name"))
                for k in ((s or {}).get("data") or {}):
                    env[prefix + k] = "dummy-secret-value"
                for k in (self.external or {}).get(ef["secretRef"].get("name"), []):
                    env[prefix + k] = "dummy-secret-value"
        for e in c.get("env") or []:
            n = e.get("name")
            if "value" in e:
                env[n] = expand(str(e["value"]), env)
                continue
            vf = e.get("valueFrom") or {}
            if vf.get("fieldRef"):
                path = vf["fieldRef"].get("fieldPath")
                env[n] = {"metadata.name": name + "-0", "metadata.namespace": ns,
                          "status.podIP": "10.0.0.10", "status.hostIP": "10.0.0.1",
                          "spec.nodeName": "node-1", "spec.serviceAccountName": "default",
                          "metadata.uid": "00000000-0000-0000-0000-000000000000"}.get(path, "dummy")
            elif vf.get("resourceFieldRef"):
                env[n] = "1"
            elif vf.get("configMapKeyRef"):
                ref = vf["configMapKeyRef"]
                cm = self.get("ConfigMap", self.ns(w), ref.get("name"))
                value = ((cm or {}).get("data") or {}).get(ref.get("key"))
                if value is not None:
                    env[n] = value
            elif vf.get("secretKeyRef"):
                env[n] = "dummy-secret-value"
        return env

    def floe_argv(self, w, c):
        """The arguments after `floe`, expanded; None (and a problem) if it isn't floe."""
        where = "%s container %s" % (self.ident(w), c.get("name"))
        command = list(c.get("command") or [])
        args = list(c.get("args") or [])
        if command:
            if os.path.basename(str(command[0])) != "floe":
                self.problem("%s: runs %r, not the floe binary" % (where, command[0]))
                return None
            raw = [str(a) for a in command[1:] + args]
        else:
            raw = [str(a) for a in args]  # the image's entrypoint is floe
        env = self.container_env(w, c)
        argv = [expand(a, env) for a in raw]
        for a in argv:
            for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", a):
                self.problem("%s: $(%s) in its command line is not defined in its env, so the "
                             "kubelet would pass it literally" % (where, ref))
        return argv

    def check_floe(self):
        for w, tmeta, spec in self.pod_templates():
            for c in spec.get("containers") or []:
                if image_repo(c.get("image")) != FLOE_IMAGE:
                    continue
                where = "%s container %s" % (self.ident(w), c.get("name"))
                argv = self.floe_argv(w, c)
                if argv is None:
                    continue
                sub = argv[0] if argv else None
                opts = self.options(argv)
                # Probes and scraping on the admin port floe serves.
                admin = opts.get("--admin")
                if sub in ("coordinator", "worker"):
                    if not admin:
                        self.problem("%s: floe %s without --admin: nothing serves /healthz or /metrics"
                                     % (where, sub))
                    else:
                        port = int(admin.rsplit(":", 1)[-1]) if admin.rsplit(":", 1)[-1].isdigit() else None
                        if not self.container_has_port(c, port):
                            self.problem("%s: the --admin port %s is not a containerPort" % (where, port))
                        for probe_name in ("readinessProbe", "livenessProbe"):
                            get = (c.get(probe_name) or {}).get("httpGet")
                            if not get:
                                self.problem("%s: no %s httpGet /healthz on the admin port" % (where, probe_name))
                                continue
                            if get.get("path") != "/healthz":
                                self.problem("%s: %s path %r, floe serves /healthz"
                                             % (where, probe_name, get.get("path")))
                            if self.resolve_port(c, get.get("port")) != port:
                                self.problem("%s: %s port %s is not the --admin port %s"
                                             % (where, probe_name, get.get("port"), port))
                        ann = tmeta.get("annotations") or {}
                        if str(ann.get("prometheus.io/scrape", "")).lower() != "true":
                            self.problem("%s: pod has no prometheus.io/scrape: \"true\"" % where)
                        elif str(ann.get("prometheus.io/port")) != str(port):
                            self.problem("%s: prometheus.io/port %s is not the --admin port %s"
                                         % (where, ann.get("prometheus.io/port"), port))
                        elif ann.get("prometheus.io/path", "/metrics") != "/metrics":
                            self.problem("%s: prometheus.io/path %r, floe serves /metrics"
                                         % (where, ann.get("prometheus.io/path")))
                if sub == "worker":
                    leave = duration_s(opts.get("--leave-timeout", "%ds" % DEFAULT_LEAVE_TIMEOUT_S))
                    grace = spec.get("terminationGracePeriodSeconds", 30)
                    if leave is not None and not grace > leave:
                        self.problem("%s: terminationGracePeriodSeconds %s must exceed the worker's "
                                     "--leave-timeout (%gs) or its graceful leave is SIGKILLed"
                                     % (where, grace, leave))
                self.run_check_args(where, argv)
                if sub == "coordinator":
                    self.check_job_file(w, c, spec, argv, opts, where)

    @staticmethod
    def options(argv):
        """--flag value / --flag=value pairs of a command line (last one wins)."""
        opts, i = {}, 1
        while i < len(argv):
            a = argv[i]
            if a.startswith("--") and "=" in a:
                k, v = a.split("=", 1)
                opts[k] = v
            elif a.startswith("--") and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                opts[a] = argv[i + 1]
                i += 1
            elif a.startswith("--"):
                opts[a] = ""
            i += 1
        return opts

    def resolve_port(self, c, port):
        if isinstance(port, int):
            return port
        for p in c.get("ports") or []:
            if p.get("name") == port:
                return p.get("containerPort")
        return int(port) if str(port).isdigit() else None

    def run_check_args(self, where, argv):
        if not self.floe_bin:
            self.problem("%s: command line NOT checked: %s" % (where, FLOE_MISSING))
            return
        if IMAGE:
            # As the kubelet runs it: the image's entrypoint (tini -- floe) with these args.
            cmd = [os.path.join(REPO, "scripts", "podman.sh"), "run", "--rm", IMAGE,
                   "--check-args"] + argv
        else:
            cmd = [self.floe_bin, "--check-args"] + argv
        try:
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=60, env=dict(os.environ, NO_COLOR="1"))
        except subprocess.TimeoutExpired:
            self.problem("%s: `floe --check-args` did not return within 60 s" % where)
            return
        if r.returncode == 0:
            how = "the image %s" % IMAGE if IMAGE else "floe"
            self.notes.append("%s: %s accepts `floe %s`" % (where, how, " ".join(argv)))
            return
        out = r.stdout.strip()
        if "--check-args" in out and ("unexpected argument" in out or "unrecognized" in out):
            self.problem("%s: command line NOT checked: %s does not support --check-args "
                         "(built before it landed?): %s" % (where, self.floe_bin, out.splitlines()[0]))
        else:
            self.problem("%s: floe rejects its command line `floe %s`: %s"
                         % (where, " ".join(argv), " | ".join(l for l in out.splitlines() if l.strip())))

    def check_job_file(self, w, c, spec, argv, opts, where):
        """The coordinator's --config file: TOML, floe's own validation, same job as base."""
        path = opts.get("--config")
        if not path:
            self.problem("%s: floe coordinator without --config" % where)
            return
        content, origin = self.mounted_file(w, c, spec, path, where)
        if content is None:
            return
        try:
            import tomllib
        except ImportError:  # Python < 3.11
            tomllib = None
        if tomllib is not None:
            try:
                job = tomllib.loads(content)
            except tomllib.TOMLDecodeError as e:
                self.problem("%s: %s is not valid TOML: %s" % (where, origin, e))
                return
            if self.base_job is not None and \
                    strip_source_properties(job) != strip_source_properties(self.base_job):
                self.problem("%s: the job in %s differs from base/floe.toml beyond "
                             "[job.source.properties]: keep one job definition" % (where, origin))
        else:
            self.notes.append("%s: python < 3.11, TOML of %s not parsed here" % (where, origin))
        if not self.floe_bin:
            self.problem("%s: job file NOT checked by floe: %s" % (where, FLOE_MISSING))
            return
        # floe validates the config and its overrides before it connects to etcd. At a dead etcd
        # address a worker stops and a coordinator keeps trying (it waits out etcd outages), so
        # it is stopped after 20 s. Accepted = it got as far as that etcd address.
        dead_etcd = "http://127.0.0.1:1"
        with tempfile.TemporaryDirectory(prefix="floe-k8s-check-") as tmp:
            cfg = os.path.join(tmp, "floe.toml")
            with open(cfg, "w") as f:
                f.write(content)
            run = list(argv)
            for flag, value in (("--config", cfg), ("--etcd", dead_etcd),
                                ("--listen", "127.0.0.1:0"), ("--admin", "127.0.0.1:0")):
                if flag in run:
                    run[run.index(flag) + 1] = value
            try:
                r = subprocess.run([self.floe_bin] + run, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, timeout=20, cwd=tmp, env={"PATH": os.environ.get("PATH", ""),
                                                                          "NO_COLOR": "1"})
                out, stopped_ok = r.stdout, r.returncode == 0
            except subprocess.TimeoutExpired as e:
                out, stopped_ok = e.stdout or "", False
                if isinstance(out, bytes):
                    out = out.decode("utf-8", "replace")
        out = out.strip()
        if not stopped_ok and "127.0.0.1:1" in out and "config error" not in out:
            self.notes.append("%s: floe accepts the job in %s" % (where, origin))
        else:
            self.problem("%s: floe rejects the job in %s: %s"
                         % (where, origin, " | ".join(l for l in out.splitlines() if l.strip())[:2000]))

    def mounted_file(self, w, c, spec, path, where):
        """(content, description) of the file at `path` in container c, from a ConfigMap or
        Secret of the output; (None, _) with a problem or a note otherwise."""
        best = None
        for m in c.get("volumeMounts") or []:
            mp = m.get("mountPath", "").rstrip("/")
            if (path == mp or path.startswith(mp + "/")) and (best is None or len(mp) > len(best[0])):
                best = (mp, m)
        if best is None:
            self.problem("%s: --config %s is on no volume: the file would not exist" % (where, path))
            return None, None
        mp, m = best
        rel = m.get("subPath") or path[len(mp):].lstrip("/")
        vol = next((v for v in spec.get("volumes") or [] if v.get("name") == m.get("name")), None)
        if vol is None:
            return None, None  # reported by check_references
        for kind, field, name_field in (("ConfigMap", "configMap", "name"), ("Secret", "secret", "secretName")):
            src = vol.get(field)
            if not src:
                continue
            name = src.get(name_field)
            items = src.get("items")
            key = rel
            if items is not None:
                key = next((i.get("key") for i in items if i.get("path") == rel), None)
                if key is None:
                    self.problem("%s: --config %s: %s %s projects no item to path %s"
                                 % (where, path, kind, name, rel))
                    return None, None
            obj = self.get(kind, self.ns(w), name)
            if obj is None:
                if kind == "Secret" and name in (self.external or {}):
                    self.notes.append("%s: job file %s comes from external Secret %s: not checked"
                                      % (where, path, name))
                return None, None  # a missing object is reported by check_references
            if key in (obj.get("data") or {}):
                value = obj["data"][key]
                if kind == "Secret":
                    value = base64.b64decode(value).decode()
                return value, "%s %s key %s" % (kind, name, key)
            if key in (obj.get("stringData") or {}):
                return obj["stringData"][key], "%s %s key %s" % (kind, name, key)
            self.problem("%s: --config %s: %s %s has no key %s" % (where, path, kind, name, key))
            return None, None
        self.problem("%s: --config %s is on volume %s, which is neither a ConfigMap nor a Secret"
                     % (where, path, m.get("name")))
        return None, None


FLOE_MISSING = "no floe binary"


# ----------------------------------------------------------------------------- driver

def render(kubectl, path):
    r = subprocess.run([kubectl, "kustomize", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    return r.returncode, r.stdout, r.stderr.strip()


def kubernetes_validate(bin_dir, rendered_file, version):
    r = subprocess.run([os.path.join(bin_dir, "kubernetes-validate"), "--strict", "-k", version,
                        rendered_file], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return r.returncode, r.stdout


def known_versions(bin_dir):
    r = subprocess.run([os.path.join(bin_dir, "python"), "-c",
                        "from kubernetes_validate.utils import all_versions; print(' '.join(all_versions()))"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return r.stdout.split() if r.returncode == 0 else None


def main():
    global FLOE_MISSING
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("targets", nargs="*", help="kustomization dirs (default: %s)" % " ".join(DEFAULT_TARGETS))
    ap.add_argument("--tools", help="bin dir of scripts/k8s-tools.sh (default: run it)")
    ap.add_argument("--floe", help="the floe binary (default: $FLOE_BIN, then target/release/floe)")
    ap.add_argument("--image", help="check each command line by running this image (its entrypoint "
                    "with the container's args, through scripts/podman.sh) instead of the binary")
    ap.add_argument("-v", "--verbose", action="store_true", help="print what passed, too")
    a = ap.parse_args()
    global IMAGE
    IMAGE = a.image

    bin_dir = tools_dir(a.tools)
    ensure_yaml(bin_dir)
    import yaml

    kubectl = os.path.join(bin_dir, "kubectl")
    floe_bin, why = find_floe(a.floe)
    if why:
        FLOE_MISSING = why
        print("check.py: WARNING: %s: every floe command line will be reported as NOT checked" % why)
    with open(os.path.join(HERE, "external-secrets.yaml")) as f:
        ext = yaml.safe_load(f) or {}
    ext_overlays = {os.path.normpath(p) for p in ext.get("overlays") or []}
    ext_secrets = {k: list(v or []) for k, v in (ext.get("secrets") or {}).items()}
    base_job = None
    try:
        import tomllib
        with open(os.path.join(HERE, "base", "floe.toml"), "rb") as f:
            base_job = tomllib.load(f)
    except ImportError:
        pass

    all_problems = 0
    versions = known_versions(bin_dir)
    global_problems = []
    if versions is None:
        global_problems.append("cannot list kubernetes-validate's schema versions")
    else:
        for v in K8S_VERSIONS:
            if v not in versions:
                global_problems.append("kubernetes-validate knows no schemas for Kubernetes %s (it has %s)"
                                       % (v, " ".join(versions)))
    for p in global_problems:
        print("PROBLEM [tools] %s" % p)
    all_problems += len(global_problems)

    for t in a.targets or DEFAULT_TARGETS:
        path = t if os.path.isabs(t) else os.path.join(HERE, t)
        name = os.path.normpath(os.path.relpath(path, HERE))
        print("== %s" % name)
        rc, out, err = render(kubectl, path)
        if rc != 0:
            print("PROBLEM [%s] kubectl kustomize failed: %s" % (name, err))
            all_problems += 1
            continue
        problems = []
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="floe-k8s-", delete=False) as f:
            f.write(out)
            rendered = f.name
        try:
            for v in K8S_VERSIONS:
                if versions is not None and v not in versions:
                    continue
                vrc, vout = kubernetes_validate(bin_dir, rendered, v)
                passed = len(re.findall(r"^INFO .* passed for resource", vout, re.M))
                bad = [l for l in vout.splitlines() if not l.startswith("INFO ")]
                if vrc != 0 or bad:
                    for l in bad or [vout.strip()]:
                        problems.append("kubernetes-validate --strict -k %s: %s"
                                        % (v, l.replace(rendered, "<rendered>")))
                else:
                    print("   kubernetes-validate --strict -k %s: %d resources valid" % (v, passed))
        finally:
            os.unlink(rendered)
        try:
            docs = list(yaml.safe_load_all(out))
        except yaml.YAMLError as e:
            problems.append("rendered output is not YAML: %s" % e)
            docs = []
        target = Target(name, path, docs, ext_secrets if name in ext_overlays else None,
                        floe_bin, base_job)
        target.check_selectors()
        target.check_references()
        target.check_pods()
        target.check_floe()
        problems += target.problems
        kinds = {}
        for d in target.docs:
            kinds[d.get("kind")] = kinds.get(d.get("kind"), 0) + 1
        print("   %d objects: %s" % (len(target.docs), ", ".join("%d %s" % (n, k) for k, n in sorted(kinds.items()))))
        for n in target.notes:
            if a.verbose or "NOT" in n or "not checked" in n:
                print("   note: %s" % n)
        if not problems:
            print("   ok: selectors, references, probes, ports, prometheus, resources, security, "
                  "grace period, floe command lines and job file")
        for p in dict.fromkeys(problems):
            print("PROBLEM [%s] %s" % (name, p))
        all_problems += len(dict.fromkeys(problems))

    if all_problems:
        print("check.py: %d problem(s)" % all_problems)
        return 1
    print("check.py: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
