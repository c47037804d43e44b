"""The Kubernetes manifests (deploy/k8s) are valid, locked down, and agree with the code.

Each check returns the problems it finds; the manifests must have none, and a deliberately
broken copy of them must make each check report one (so no check passes vacuously).
Offline: the Kubernetes JSON schemas come with the kubernetes-validate package.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import tempfile
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pydantic import SecretStr
from pydantic_settings import BaseSettings
from typer.testing import CliRunner

from streams.cli.main import app as cli
from streams.config import Settings
from streams.topology import input_topics, project_topics

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
TOPIC_SCHEMA = json.loads((Path(__file__).parent / "k8s" / "kafkatopic.schema.json").read_text())

#: The oldest Kubernetes minor the manifests support, and a current one.
KUBERNETES_VERSIONS = ["1.29", "1.33"]

#: Names that carry a secret whatever the settings model says.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|PRIVATE|SASL_USERNAME|_KEYS?$")
#: Secret volumes that files named by settings must come from, read-only.
SECRET_MOUNTS = {"EMR_STREAMS_PHI_KEYS_FILE": "/etc/emr-streams/phi",
                 "EMR_STREAMS_KAFKA_SSL_CAFILE": "/etc/emr-streams/kafka"}

Doc = dict[str, Any]


# -- reading the manifests ----------------------------------------------------------------

def kustomization() -> Doc:
    loaded: Doc = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return loaded


def load_manifests() -> list[Doc]:
    """Every YAML document of every resource file the kustomization lists."""
    docs: list[Doc] = []
    for name in kustomization()["resources"]:
        docs.extend(d for d in yaml.safe_load_all((K8S / name).read_text()) if d is not None)
    return docs


def find(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[Doc], kind: str) -> Doc:
    [doc] = find(docs, kind)
    return doc


def pod_specs(docs: list[Doc]) -> list[tuple[str, Doc]]:
    """(workload name, pod spec) of each Deployment, Job and CronJob."""
    specs = [(d["metadata"]["name"], d["spec"]["template"]["spec"])
             for d in docs if d["kind"] in {"Deployment", "Job"}]
    return specs + [(d["metadata"]["name"], d["spec"]["jobTemplate"]["spec"]["template"]["spec"])
                    for d in docs if d["kind"] == "CronJob"]


def processor(docs: list[Doc]) -> Doc:
    container: Doc = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return container


def settings_environment() -> dict[str, bool]:
    """Every environment variable streams/config.py reads -> whether it holds a SecretStr."""
    names: dict[str, bool] = {}
    for section in Settings.model_fields.values():
        model = section.annotation
        if not (isinstance(model, type) and issubclass(model, BaseSettings)):
            # A top-level setting (the profile): read under its aliases only.
            for name in getattr(section.validation_alias, "choices", []):
                if isinstance(name, str) and name.isupper():
                    names[name] = False
            continue
        prefix = model.model_config.get("env_prefix", "")
        for field_name, field in model.model_fields.items():
            secret = SecretStr in getattr(field.annotation, "__args__", (field.annotation,))
            aliases = getattr(field.validation_alias, "choices", [])
            for name in [f"{prefix}{field_name}".upper(), *aliases]:
                if isinstance(name, str) and name.isupper():
                    names[name] = secret
    return names


def is_secret(name: str) -> bool:
    return settings_environment().get(name, False) or bool(SECRET_NAME.search(name))


def pod_settings(docs: list[Doc]) -> Settings:
    """The settings the processor pod would load: ConfigMap, literal env, secret stand-ins."""
    env = dict(one(docs, "ConfigMap")["data"])
    for var in processor(docs).get("env", []):
        # A secret stand-in that parses as what it stands for (the URL is checked on load).
        stand_in = ("postgresql://stand-in-for-a-secret/x" if var["name"] == "DATABASE_URL"
                    else "stand-in-for-a-secret")
        env[var["name"]] = var.get("value", stand_in)
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as mounts:
        for name in list(os.environ):
            if name.startswith("EMR_STREAMS_") or name in {"DATABASE_URL",
                                                          "KAFKA_BOOTSTRAP_SERVERS"}:
                patch.delenv(name)
        for name, value in env.items():
            if str(value).startswith("/etc/emr-streams/"):
                # A file of a secret volume: settings check that it exists.
                stand_in = Path(mounts) / name
                stand_in.write_text("stand-in")
                value = str(stand_in)
            patch.setenv(name, str(value))
        return Settings()


def quantity(text: str) -> float:
    """A Kubernetes quantity (250m, 1, 256Mi, 1Gi) as a number."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "": 1}
    match = re.fullmatch(r"([0-9.]+)(m|Ki|Mi|Gi|)", str(text))
    assert match, f"unexpected quantity {text!r}"
    return float(match.group(1)) * units[match.group(2)]


# -- the checks ----------------------------------------------------------------------------

def kubernetes_schema_problems(docs: list[Doc]) -> list[str]:
    """Core resources against the Kubernetes OpenAPI schemas (strict: no unknown fields)."""
    problems = []
    for doc in docs:
        if doc["apiVersion"].startswith("kafka.strimzi.io/"):
            continue
        for release in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, release, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = ".".join(str(p) for p in exc.path)
                problems.append(f"{doc['kind']} {release}: {where}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError as exc:
                problems.append(exc.message)
    return problems


def topic_schema_problems(docs: list[Doc]) -> list[str]:
    """KafkaTopics against tests/unit/k8s/kafkatopic.schema.json."""
    validator = jsonschema.Draft202012Validator(TOPIC_SCHEMA)
    return [f"{d['metadata'].get('name')}: {e.message}"
            for d in find(docs, "KafkaTopic") for e in validator.iter_errors(d)]


def topic_code_problems(docs: list[Doc]) -> list[str]:
    """The KafkaTopics are the topics the code creates, with production durability."""
    problems = []
    topics = {d["spec"]["topicName"]: d["spec"] for d in find(docs, "KafkaTopic")}
    expected = {s.name: s for s in project_topics(pod_settings(docs))}
    if set(topics) != set(expected):
        problems.append(f"topics {sorted(topics)} != the code's {sorted(expected)}")
    for name in set(topics) & set(expected):
        spec, code = topics[name], expected[name]
        config = {k: str(v) for k, v in spec["config"].items()}
        if spec["partitions"] != code.partitions:
            problems.append(f"{name}: {spec['partitions']} partitions, code {code.partitions}")
        for key, value in code.config.items():
            if config.get(key) != value:
                problems.append(f"{name}: {key}={config.get(key)}, code {value}")
        if spec["replicas"] != 3 or config.get("min.insync.replicas") != "2":
            problems.append(f"{name}: not 3 replicas with min.insync.replicas 2")
    return problems


def security_problems(docs: list[Doc]) -> list[str]:
    """Non-root, read-only root filesystem, no privilege, no token, bounded resources."""
    problems = []
    for account in find(docs, "ServiceAccount"):
        if account.get("automountServiceAccountToken") is not False:
            problems.append("the ServiceAccount mounts a token")
    for workload, pod in pod_specs(docs):
        context = pod.get("securityContext", {})
        if context.get("runAsNonRoot") is not True or not context.get("runAsUser", 0) > 0:
            problems.append(f"{workload}: pod may run as root")
        if context.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{workload}: pod has no RuntimeDefault seccomp profile")
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{workload}: pod mounts a service-account token")
        for c in pod["containers"]:
            where = f"{workload}/{c['name']}"
            sc = c.get("securityContext", {})
            if sc.get("runAsNonRoot") is not True or sc.get("runAsUser", 1) == 0:
                problems.append(f"{where}: may run as root")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: writable root filesystem")
            if sc.get("allowPrivilegeEscalation") is not False or sc.get("privileged"):
                problems.append(f"{where}: privilege escalation allowed")
            caps = sc.get("capabilities", {})
            if caps.get("drop") != ["ALL"] or caps.get("add"):
                problems.append(f"{where}: capabilities not all dropped")
            if sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
                problems.append(f"{where}: no RuntimeDefault seccomp profile")
            resources = c.get("resources", {})
            for resource in ("cpu", "memory"):
                request = resources.get("requests", {}).get(resource)
                limit = resources.get("limits", {}).get(resource)
                if request is None or limit is None:
                    problems.append(f"{where}: {resource} request or limit missing")
                elif quantity(request) > quantity(limit):
                    problems.append(f"{where}: {resource} request above its limit")
    memory = processor(docs).get("resources", {}).get("requests", {}).get("memory", "0")
    if quantity(memory) < quantity("256Mi"):
        problems.append("the processor requests less memory than its 250 MiB peak")
    return problems


def probe_problems(docs: list[Doc]) -> list[str]:
    """Readiness on /readyz and liveness on /healthz at the port the processor listens on."""
    problems = []
    settings = pod_settings(docs)
    container = processor(docs)
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = container.get(probe, {}).get("httpGet", {})
        port = ports.get(get.get("port"), get.get("port"))
        if get.get("path") != path or port != settings.processor.http_port:
            problems.append(f"{probe}: {get.get('path')} on {port}, want {path} on "
                            f"{settings.processor.http_port}")
    if settings.processor.http_host != "0.0.0.0":
        problems.append(f"http_host {settings.processor.http_host}: unreachable by probes")
    return problems


def replica_problems(docs: list[Doc]) -> list[str]:
    """No more processors than partitions of an input topic: the rest would idle."""
    settings = pod_settings(docs)
    inputs = set(input_topics(settings))
    partitions = [d["spec"]["partitions"] for d in find(docs, "KafkaTopic")
                  if d["spec"]["topicName"] in inputs]
    deployment = one(docs, "Deployment")["spec"]
    replicas = deployment.get("replicas", 1)
    surge = deployment.get("strategy", {}).get("rollingUpdate", {}).get("maxSurge", "25%")
    if str(surge).endswith("%"):  # Kubernetes rounds a percentage of surge up
        surge = math.ceil(replicas * int(str(surge)[:-1]) / 100)
    most = replicas + int(surge)
    if len(partitions) != len(inputs) or most > min(partitions):
        return [f"up to {most} processors for input topics of {partitions} partitions"]
    return []


def secret_problems(docs: list[Doc]) -> list[str]:
    """No secret value in the manifests: secrets come from secretKeyRef or a secret volume."""
    problems = [f"Secret {d['metadata']['name']} committed" for d in find(docs, "Secret")]
    problems += [f"ConfigMap holds {k}" for k in one(docs, "ConfigMap")["data"] if is_secret(k)]
    for workload, pod in pod_specs(docs):
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for c in pod["containers"]:
            mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
            for var in c.get("env", []):
                name, source = var["name"], var.get("valueFrom", {})
                if is_secret(name) and "secretKeyRef" not in source:
                    problems.append(f"{workload}: {name} not from a secretKeyRef")
                if re.search(r"://[^/@\s]+:[^/@\s]+@", str(var.get("value", ""))):
                    problems.append(f"{workload}: {name} holds a password in a URL")
                folder = SECRET_MOUNTS.get(name)
                if folder is None:
                    continue
                mount = mounts.get(folder, {})
                volume = volumes.get(mount.get("name"), {})
                if (not str(var.get("value", "")).startswith(f"{folder}/")
                        or mount.get("readOnly") is not True or "secret" not in volume):
                    problems.append(f"{workload}: {name} is not a file of a read-only "
                                    f"secret volume at {folder}")
    return problems


def setting_name_problems(docs: list[Doc]) -> list[str]:
    """Every environment variable the manifests set is a setting the code reads."""
    known = set(settings_environment())
    names = list(one(docs, "ConfigMap")["data"])
    names += [v["name"] for _, pod in pod_specs(docs) for c in pod["containers"]
              for v in c.get("env", [])]
    return [f"{n} is no setting" for n in names if n not in known]


def wiring_problems(docs: list[Doc]) -> list[str]:
    """Selectors, ports, image, user and commands agree with each other and the code."""
    problems = []
    deployment = one(docs, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    container = processor(docs)
    for kind in ("Service", "PodDisruptionBudget"):
        spec = one(docs, kind)["spec"]
        selector = spec["selector"].get("matchLabels", spec["selector"])
        if not selector or not selector.items() <= labels.items():
            problems.append(f"the {kind} does not select the processor pods")
    budget = one(docs, "PodDisruptionBudget")["spec"]
    if budget.get("maxUnavailable") != 1 and budget.get("minAvailable") is None:
        problems.append("the PodDisruptionBudget does not keep maxUnavailable at 1")
    names = {p.get("name") for p in container["ports"]}
    for port in one(docs, "Service")["spec"]["ports"]:
        if port["targetPort"] not in names:
            problems.append(f"Service targets {port['targetPort']}, not a container port")
    dockerfile = dict(re.findall(r"^(USER|CMD) (.+)$", (ROOT / "deploy" / "Dockerfile")
                                 .read_text(), re.MULTILINE))
    user, cmd = int(dockerfile["USER"]), json.loads(dockerfile["CMD"])
    if container["command"] != cmd:
        problems.append(f"the processor runs {container['command']}, the image {cmd}")
    for workload, pod in pod_specs(docs):
        if pod["securityContext"].get("runAsUser") != user:
            problems.append(f"{workload}: runs as another user than the image's {user}")
        for c in pod["containers"]:
            if c["image"] != f"emr-streams:{version('emr-streams')}":
                problems.append(f"{workload}: image {c['image']} is not this release")
            help_run = CliRunner().invoke(cli, [*c["command"][1:], "--help"])
            if c["command"][0] != "emr-streams" or help_run.exit_code != 0:
                problems.append(f"{workload}: {c['command']} is no emr-streams command")
    if kustomization()["namespace"] != one(docs, "Namespace")["metadata"]["name"]:
        problems.append("the kustomization installs into another namespace")
    return problems


def maintenance_problems(docs: list[Doc]) -> list[str]:
    """Audit maintenance runs as the schema owner, hourly, from a CronJob; the processor
    (emr_processor, which may not run it) has it turned off."""
    problems = []
    data = one(docs, "ConfigMap")["data"]
    if data.get("EMR_STREAMS_PROCESSOR_MAINTENANCE") != "false":
        problems.append("the processor runs audit maintenance it has no right to")
    jobs = [d for d in find(docs, "CronJob")
            if d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
            ["command"] == ["emr-streams", "maintenance", "run"]]
    if len(jobs) != 1:
        return [*problems, "no CronJob runs `emr-streams maintenance run`"]
    spec = jobs[0]["spec"]
    fields = str(spec["schedule"]).split()
    if len(fields) != 5 or fields[1] != "*":
        problems.append(f"maintenance is not hourly: {spec['schedule']!r}")
    if spec.get("concurrencyPolicy") != "Forbid":
        problems.append("two maintenance runs may overlap")
    env = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0].get("env", [])
    urls = [v.get("valueFrom", {}).get("secretKeyRef", {}) for v in env
            if v["name"] == "DATABASE_URL"]
    if urls != [{"name": "emr-streams-postgres", "key": "migrate-database-url"}]:
        problems.append("maintenance does not connect as the schema owner")
    return problems


CHECKS: dict[str, Callable[[list[Doc]], list[str]]] = {
    "maintenance": maintenance_problems,
    "kubernetes_schema": kubernetes_schema_problems,
    "topic_schema": topic_schema_problems,
    "topic_code": topic_code_problems,
    "security": security_problems,
    "probes": probe_problems,
    "replicas": replica_problems,
    "secrets": secret_problems,
    "setting_names": setting_name_problems,
    "wiring": wiring_problems,
}


# -- the tests -----------------------------------------------------------------------------

def test_the_kustomization_lists_every_manifest_file() -> None:
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization()["resources"]) == sorted(files)


def test_the_manifests_hold_the_resources_the_deployment_needs() -> None:
    kinds = sorted({d["kind"] for d in load_manifests()})
    assert kinds == ["ConfigMap", "CronJob", "Deployment", "Job", "KafkaTopic", "Namespace",
                     "PodDisruptionBudget", "Service", "ServiceAccount"]


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_the_manifests_pass(check: str) -> None:
    assert CHECKS[check](load_manifests()) == []


def _set(path: str, value: object) -> Callable[[list[Doc]], None]:
    """A mutation: set *value* at *path* (``Kind/[n/]key/0/key``; ``~`` deletes the key)."""
    kind, *keys = path.split("/")
    index = int(keys.pop(0)) if keys[0].isdigit() else 0

    def mutate(docs: list[Doc]) -> None:
        target: Any = find(docs, kind)[index]
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        last = keys[-1]
        if value == "~":
            del target[last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return mutate


_POD = "Deployment/spec/template/spec"
_CONTAINER = f"{_POD}/containers/0"
_JOB_CONTAINER = "Job/spec/template/spec/containers/0"


def _add_secret(docs: list[Doc]) -> None:
    docs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "emr-streams-db"},
                 "stringData": {"database-url": "postgresql://app:hunter2@db/emr"}})


def _add_registry_with_password(docs: list[Doc]) -> None:
    processor(docs)["env"].append({"name": "EMR_STREAMS_KAFKA_SCHEMA_REGISTRY_URL",
                                   "value": "https://emr:hunter2@registry:8081"})


_CRON_CONTAINER = "CronJob/spec/jobTemplate/spec/template/spec/containers/0"

BROKEN: list[tuple[str, str, Callable[[list[Doc]], None]]] = [
    ("maintenance", "in-worker maintenance on",
     _set("ConfigMap/data/EMR_STREAMS_PROCESSOR_MAINTENANCE", "true")),
    ("maintenance", "no maintenance command",
     _set(f"{_CRON_CONTAINER}/command", ["emr-streams", "status"])),
    ("maintenance", "monthly", _set("CronJob/spec/schedule", "0 3 1 * *")),
    ("maintenance", "overlapping runs", _set("CronJob/spec/concurrencyPolicy", "Allow")),
    ("maintenance", "as the processor role",
     _set(f"{_CRON_CONTAINER}/env/0/valueFrom/secretKeyRef/key", "database-url")),
    ("security", "maintenance as root",
     _set(f"{_CRON_CONTAINER}/securityContext/runAsNonRoot", False)),
    ("kubernetes_schema", "replicas as a string", _set("Deployment/spec/replicas", "3")),
    ("kubernetes_schema", "misspelt field",
     _set(f"{_CONTAINER}/securityContext/readOnlyRootFileSystem", True)),
    ("kubernetes_schema", "container without a name", _set(f"{_JOB_CONTAINER}/name", "~")),
    ("kubernetes_schema", "env value not a string", _set(f"{_CONTAINER}/env/4/value", 1)),
    ("topic_schema", "partitions as a string", _set("KafkaTopic/spec/partitions", "3")),
    ("topic_schema", "no cluster label", _set("KafkaTopic/metadata/labels", {})),
    ("topic_code", "topic name typo", _set("KafkaTopic/spec/topicName", "emr.task.v1")),
    ("topic_code", "state topic not compacted",
     _set("KafkaTopic/6/spec/config/cleanup.policy", "delete")),
    ("topic_code", "one replica", _set("KafkaTopic/spec/replicas", 1)),
    ("topic_code", "partitions setting changed",
     _set("ConfigMap/data/EMR_STREAMS_KAFKA_TOPIC_PARTITIONS", "6")),
    ("security", "pod runs as root", _set(f"{_POD}/securityContext/runAsUser", 0)),
    ("security", "container may run as root",
     _set(f"{_CONTAINER}/securityContext/runAsNonRoot", False)),
    ("security", "writable root filesystem",
     _set(f"{_JOB_CONTAINER}/securityContext/readOnlyRootFilesystem", False)),
    ("security", "privilege escalation",
     _set(f"{_CONTAINER}/securityContext/allowPrivilegeEscalation", True)),
    ("security", "capabilities kept", _set(f"{_CONTAINER}/securityContext/capabilities",
                                           {"drop": ["NET_RAW"]})),
    ("security", "no seccomp profile", _set(f"{_POD}/securityContext/seccompProfile", "~")),
    ("security", "no memory limit", _set(f"{_JOB_CONTAINER}/resources/limits/memory", "~")),
    ("security", "request above limit", _set(f"{_CONTAINER}/resources/requests/cpu", "2")),
    ("security", "too little memory", _set(f"{_CONTAINER}/resources/requests/memory", "64Mi")),
    ("security", "token mounted", _set("ServiceAccount/automountServiceAccountToken", True)),
    ("probes", "readiness on /healthz", _set(f"{_CONTAINER}/readinessProbe/httpGet/path",
                                             "/healthz")),
    ("probes", "liveness on another port", _set(f"{_CONTAINER}/livenessProbe/httpGet/port",
                                                9090)),
    ("probes", "loopback only", _set("ConfigMap/data/EMR_STREAMS_PROCESSOR_HTTP_HOST",
                                     "127.0.0.1")),
    ("probes", "port setting changed", _set("ConfigMap/data/EMR_STREAMS_PROCESSOR_HTTP_PORT",
                                            "9000")),
    ("replicas", "more processors than partitions", _set("Deployment/spec/replicas", 4)),
    ("replicas", "a surge beyond the partitions",
     _set("Deployment/spec/strategy/rollingUpdate/maxSurge", 1)),
    ("secrets", "literal database URL", _set(f"{_CONTAINER}/env/0", {
        "name": "DATABASE_URL", "value": "postgresql://app@db/emr"})),
    ("secrets", "password in the ConfigMap",
     _set("ConfigMap/data/EMR_STREAMS_KAFKA_SASL_PASSWORD", "hunter2")),
    ("secrets", "password in a URL", _add_registry_with_password),
    ("secrets", "a Secret committed", _add_secret),
    ("secrets", "PHI keyring mount writable",
     _set(f"{_CONTAINER}/volumeMounts/1/readOnly", False)),
    ("secrets", "PHI keyring outside the mount", _set(f"{_CONTAINER}/env/4/value",
                                                      "/tmp/keyring.json")),
    ("setting_names", "misspelt setting",
     _set("ConfigMap/data/EMR_STREAMS_PROCESSOR_BATCHSIZE", "500")),
    ("wiring", "Service selects nothing", _set("Service/spec/selector",
                                               {"app.kubernetes.io/name": "other"})),
    ("wiring", "budget of two", _set("PodDisruptionBudget/spec/maxUnavailable", 2)),
    ("wiring", "another command", _set(f"{_CONTAINER}/command", ["emr-streams", "serve"])),
    ("wiring", "job runs no command", _set(f"{_JOB_CONTAINER}/command",
                                           ["emr-streams", "migrate", "upp"])),
    ("wiring", "another user", _set("Job/spec/template/spec/securityContext/runAsUser", 1000)),
    ("wiring", "another image", _set(f"{_CONTAINER}/image", "emr-streams:latest")),
]


@pytest.mark.parametrize(("check", "mutation"), [(c, m) for c, _, m in BROKEN],
                         ids=[f"{c}: {d}" for c, d, _ in BROKEN])
def test_a_broken_copy_fails_the_check(check: str,
                                       mutation: Callable[[list[Doc]], None]) -> None:
    docs = load_manifests()
    broken = copy.deepcopy(docs)
    mutation(broken)
    assert broken != docs, "the mutation changed nothing"
    assert CHECKS[check](broken) != []


def test_every_check_is_broken_at_least_once() -> None:
    assert {c for c, _, _ in BROKEN} == set(CHECKS)
