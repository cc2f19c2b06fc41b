"""Kubernetes manifests (``deploy/k8s``): every overlay renders with kustomize, validates against the
Kubernetes JSON schemas, and keeps the properties the service relies on.

Rendering needs ``kubectl`` (or a standalone ``kustomize``), validation the PyPI package
``kubernetes-validate``; without them these tests are skipped, unless ``HAL9_REQUIRE_KUBECTL=1``.
``scripts/k8s_validate.sh`` runs the same rendering and schema validation from the shell.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("staging", "production", "gpu-worker")
#: Kubernetes version of the schemas (one that kubernetes-validate ships; the kubectl client is 1.32).
K8S_VERSION = "1.32.0"
#: Host and TLS secret of each overlay's Ingress (gpu-worker is production with GPU workers).
INGRESS = {
    "staging": ("hal9.staging.example.org", "hal9-staging-tls"),
    "production": ("hal9.example.org", "hal9-production-tls"),
    "gpu-worker": ("hal9.example.org", "hal9-production-tls"),
}
NAMESPACE = {"staging": "hal9-staging", "production": "hal9-production", "gpu-worker": "hal9-production"}
SECRET_NAME = "hal9-secrets"
#: Values that must never sit in a ConfigMap or a literal env value: they come from ``hal9-secrets``.
SECRET_ENV = {"DATABASE_URL", "REDIS_URL", "HAL9_SECRET_KEY"}
WRITABLE = {"/tmp", "/var/lib/hal9"}
UID = 10001
API_COMMAND = ["hal9", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
WORKER_COMMAND = ["hal9", "worker", "--processes", "1"]
MIGRATE_COMMAND = ["hal9", "serve", "migrate"]
#: ``hal9 worker`` re-queues a job that reaches no checkpoint this long after the grace (workerproc.py);
#: the kubelet's SIGKILL must come later still, with some slack for the hand-back's commit.
WORKER_HARD_MARGIN_S = 5.0
WORKER_SLACK_S = 10.0
PRE_PHASE = ("hal9/rollout-phase", "pre")
#: The manifests set only ``args``: the image's ENTRYPOINT (``tini -- hal9``, Dockerfile) runs them.
DOCKERFILE = ROOT / "Dockerfile"
POD_KINDS = {"Deployment", "Job", "StatefulSet", "DaemonSet"}
TAG = re.compile(r"^\d+\.\d+\.\d+-[0-9a-f]{7,40}$")

Doc = dict[str, Any]


def _required() -> bool:
    return os.environ.get("HAL9_REQUIRE_KUBECTL") == "1"


def _unavailable(reason: str) -> None:
    if _required():
        pytest.fail(f"{reason} (HAL9_REQUIRE_KUBECTL=1)")
    pytest.skip(f"{reason}; set HAL9_REQUIRE_KUBECTL=1 to fail instead")


def _render_command() -> list[str]:
    if kubectl := shutil.which("kubectl"):
        return [kubectl, "kustomize"]
    if kustomize := shutil.which("kustomize"):
        return [kustomize, "build"]
    _unavailable("kubectl (or kustomize) is not on PATH: cannot render deploy/k8s")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Doc]]:
    """Every overlay's rendered objects."""
    command = _render_command()
    out: dict[str, list[Doc]] = {}
    for name in OVERLAYS:
        proc = subprocess.run(
            [*command, str(K8S / "overlays" / name)], capture_output=True, text=True, timeout=60, check=False
        )
        assert proc.returncode == 0, f"kustomize failed for overlay {name}:\n{proc.stderr}"
        out[name] = [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
        assert out[name], f"overlay {name} rendered nothing"
    return out


@pytest.fixture(scope="module")
def settings_module() -> Any:
    return pytest.importorskip("hal9.serve.settings", reason="hal9.serve needs the 'serve' extra")


# ---------------------------------------------------------------------------------------------------------
# Helpers over rendered objects
# ---------------------------------------------------------------------------------------------------------


def _of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def _named(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _pod_template(doc: Doc) -> Doc:
    return doc["spec"]["template"]


def _pods(docs: list[Doc]) -> Iterator[tuple[Doc, Doc]]:
    """(workload, pod template) of every object that runs pods."""
    for doc in docs:
        if doc["kind"] in POD_KINDS:
            yield doc, _pod_template(doc)
        elif doc["kind"] == "CronJob":
            yield doc, doc["spec"]["jobTemplate"]["spec"]["template"]


def _containers(pod: Doc) -> list[Doc]:
    spec = pod["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def _only_container(docs: list[Doc], kind: str, name: str) -> tuple[Doc, Doc]:
    pod = _pod_template(_named(docs, kind, name))
    assert len(pod["spec"]["containers"]) == 1, f"{kind}/{name}: one container expected"
    return pod, pod["spec"]["containers"][0]


def _image_entrypoint() -> list[str]:
    """The ENTRYPOINT of the repository's Dockerfile (exec form); ``["hal9"]`` where there is none."""
    if not DOCKERFILE.exists():
        return ["hal9"]
    found = re.findall(r"^ENTRYPOINT\s+(\[.*\])\s*$", DOCKERFILE.read_text(), flags=re.MULTILINE)
    assert found, "the Dockerfile's ENTRYPOINT must use the exec form (a JSON list)"
    return json.loads(found[-1])


def _argv(container: Doc) -> list[str]:
    """What the container runs, without a ``tini --`` wrapper in front."""
    argv = [*container.get("command", _image_entrypoint()), *container.get("args", [])]
    if argv and Path(argv[0]).name == "tini":
        assert "--" in argv, argv
        argv = argv[argv.index("--") + 1 :]
    return argv


def _config_maps(docs: list[Doc]) -> dict[str, dict[str, str]]:
    return {d["metadata"]["name"]: d.get("data", {}) for d in _of_kind(docs, "ConfigMap")}


def _effective_env(docs: list[Doc], container: Doc) -> dict[str, str | None]:
    """The container's environment as the kubelet builds it: envFrom first, then env (which wins).

    Values read from a Secret are ``None``.
    """
    maps = _config_maps(docs)
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        assert "secretRef" not in source, "whole Secrets are not imported: name each key (secretKeyRef)"
        name = source["configMapRef"]["name"]
        assert name in maps, f"envFrom names ConfigMap {name!r}, which the overlay does not render"
        env.update({f"{source.get('prefix', '')}{k}": v for k, v in maps[name].items()})
    for var in container.get("env", []):
        env[var["name"]] = var["value"] if "value" in var else None
    return env


def _matches(selector: Doc, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "only matchLabels selectors are understood here"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _policies_for(docs: list[Doc], pod: Doc) -> list[Doc]:
    labels = pod["metadata"]["labels"]
    return [p for p in _of_kind(docs, "NetworkPolicy") if _matches(p["spec"]["podSelector"], labels)]


def _ports(rules: list[Doc]) -> set[int]:
    return {port["port"] for rule in rules for port in rule.get("ports", [])}


def _gpu(container: Doc) -> Any:
    resources = container.get("resources", {})
    return resources.get("limits", {}).get("nvidia.com/gpu") or resources.get("requests", {}).get(
        "nvidia.com/gpu"
    )


# ---------------------------------------------------------------------------------------------------------
# Rendering and schemas
# ---------------------------------------------------------------------------------------------------------


def test_overlays_are_the_tested_ones() -> None:
    found = {p.parent.name for p in (K8S / "overlays").glob("*/kustomization.yaml")}
    assert found == set(OVERLAYS), "add a new overlay to OVERLAYS (and INGRESS, NAMESPACE) here"


def test_every_object_validates_against_the_kubernetes_schemas(rendered: dict[str, list[Doc]]) -> None:
    try:
        import kubernetes_validate
    except ImportError:
        _unavailable("kubernetes-validate is not installed (.venv/bin/pip install kubernetes-validate)")
    problems = []
    for name, docs in rendered.items():
        for doc in docs:
            where = f"{name}: {doc['kind']}/{doc['metadata']['name']}"
            try:
                kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                problems.append(f"{where}: {path}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError as exc:
                problems.append(f"{where}: {exc.message}")
    assert not problems, "\n".join(problems)


def test_every_namespaced_object_lands_in_the_overlay_namespace(rendered: dict[str, list[Doc]]) -> None:
    for name, docs in rendered.items():
        namespace = NAMESPACE[name]
        ns = _named(docs, "Namespace", namespace)
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        for doc in docs:
            if doc["kind"] != "Namespace":
                assert doc["metadata"].get("namespace") == namespace, f"{name}: {doc['kind']}"


# ---------------------------------------------------------------------------------------------------------
# Pod security
# ---------------------------------------------------------------------------------------------------------


def test_every_container_is_locked_down(rendered: dict[str, list[Doc]]) -> None:
    for name, docs in rendered.items():
        pods = list(_pods(docs))
        assert len(pods) == 3, f"{name}: API, worker and migration Job expected"
        for workload, pod in pods:
            spec = pod["spec"]
            psc = spec.get("securityContext", {})
            assert spec.get("automountServiceAccountToken") is False
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            for c in _containers(pod):
                where = f"{name}: {workload['metadata']['name']}/{c['name']}"
                sc = c.get("securityContext", {})
                assert sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, where
                assert sc.get("runAsUser", psc.get("runAsUser")) == UID, where
                assert sc.get("readOnlyRootFilesystem") is True, where
                assert sc.get("allowPrivilegeEscalation") is False, where
                assert sc.get("privileged", False) is False, where
                assert "ALL" in sc.get("capabilities", {}).get("drop", []), where
                assert not sc.get("capabilities", {}).get("add"), where
                seccomp = sc.get("seccompProfile", psc.get("seccompProfile", {}))
                assert seccomp.get("type") == "RuntimeDefault", where
                for kind in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(c.get("resources", {}).get(kind, {})), f"{where}: {kind}"
                # The root filesystem is read-only: the writable paths are emptyDirs, exactly these.
                mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
                assert set(mounts) == WRITABLE, where
                for volume in mounts.values():
                    assert "emptyDir" in volumes[volume], f"{where}: {volume} is not an emptyDir"
                data_dir = _effective_env(docs, c).get("HAL9_DATA_DIR")
                assert data_dir is not None, f"{where}: HAL9_DATA_DIR defaults to the read-only cwd"
                assert any(data_dir.startswith(w + "/") for w in WRITABLE), f"{where}: {data_dir}"


def test_no_secret_values_in_the_manifests(rendered: dict[str, list[Doc]]) -> None:
    for name, docs in rendered.items():
        for secret in _of_kind(docs, "Secret"):
            assert not secret.get("data") and not secret.get("stringData"), f"{name}: Secret with values"
        for cm_name, data in _config_maps(docs).items():
            assert not SECRET_ENV & set(data), f"{name}: ConfigMap {cm_name} holds a secret setting"
        for _, pod in _pods(docs):
            for c in _containers(pod):
                for var in c.get("env", []):
                    if var["name"] in SECRET_ENV or "PASSWORD" in var["name"]:
                        ref = var.get("valueFrom", {}).get("secretKeyRef")
                        assert ref is not None, f"{name}: {var['name']} is not read from a Secret"
                    ref = var.get("valueFrom", {}).get("secretKeyRef")
                    if ref is not None:
                        assert ref["name"] == SECRET_NAME and ref["key"] == var["name"], var
    # The example Secret is documentation only: no kustomization may pull it in.
    for kustomization in K8S.rglob("kustomization.yaml"):
        assert "secret.example" not in kustomization.read_text(), kustomization


# ---------------------------------------------------------------------------------------------------------
# Workloads
# ---------------------------------------------------------------------------------------------------------


def test_api_and_worker_are_separate_deployments(rendered: dict[str, list[Doc]]) -> None:
    for name, docs in rendered.items():
        api_dep = _named(docs, "Deployment", "hal9-api")
        worker_dep = _named(docs, "Deployment", "hal9-worker")
        api_pod, api = _only_container(docs, "Deployment", "hal9-api")
        worker_pod, worker = _only_container(docs, "Deployment", "hal9-worker")
        assert _argv(api) == API_COMMAND
        assert _argv(worker) == WORKER_COMMAND
        assert [p["containerPort"] for p in api["ports"]] == [8000]
        assert not worker.get("ports"), "the worker serves no port"
        # Neither Deployment's selector takes the other's pods.
        assert _matches(api_dep["spec"]["selector"], api_pod["metadata"]["labels"])
        assert _matches(worker_dep["spec"]["selector"], worker_pod["metadata"]["labels"])
        assert not _matches(api_dep["spec"]["selector"], worker_pod["metadata"]["labels"])
        assert not _matches(worker_dep["spec"]["selector"], api_pod["metadata"]["labels"])
        # One Service, for the API only: port 80 to the container's 8000.
        (service,) = _of_kind(docs, "Service")
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
        assert _matches({"matchLabels": service["spec"]["selector"]}, api_pod["metadata"]["labels"])
        assert not _matches({"matchLabels": service["spec"]["selector"]}, worker_pod["metadata"]["labels"])
        (port,) = service["spec"]["ports"]
        named = {p["name"]: p["containerPort"] for p in api["ports"]}
        assert port["port"] == 80 and named.get(port["targetPort"], port["targetPort"]) == 8000, name


def test_api_probes_hit_health_and_ready(rendered: dict[str, list[Doc]]) -> None:
    for docs in rendered.values():
        _, api = _only_container(docs, "Deployment", "hal9-api")
        ports = {p["name"]: p["containerPort"] for p in api["ports"]}
        expected = {"startupProbe": "/health", "livenessProbe": "/health", "readinessProbe": "/ready"}
        for probe, path in expected.items():
            get = api[probe]["httpGet"]
            assert get["path"] == path, probe
            assert ports.get(get["port"], get["port"]) == 8000, probe


def test_worker_outlives_its_shutdown_grace(rendered: dict[str, list[Doc]], settings_module: Any) -> None:
    default = settings_module.Settings.model_fields["worker_shutdown_grace_s"].default
    for name, docs in rendered.items():
        pod, worker = _only_container(docs, "Deployment", "hal9-worker")
        grace = float(_effective_env(docs, worker).get("HAL9_WORKER_SHUTDOWN_GRACE_S") or default)
        period = pod["spec"]["terminationGracePeriodSeconds"]
        assert period >= grace + WORKER_HARD_MARGIN_S + WORKER_SLACK_S, (
            f"{name}: {period} s vs grace {grace} s"
        )


def test_gpu_only_in_the_gpu_overlay(rendered: dict[str, list[Doc]]) -> None:
    for name, docs in rendered.items():
        pod, worker = _only_container(docs, "Deployment", "hal9-worker")
        device = _effective_env(docs, worker)["HAL9_JOB_DEVICE"]
        others = [c for _, p in _pods(docs) for c in _containers(p) if c is not worker]
        assert all(_gpu(c) is None for c in others), f"{name}: a GPU outside the worker"
        if name == "gpu-worker":
            assert str(worker["resources"]["limits"]["nvidia.com/gpu"]) == "1"
            assert device == "cuda"
            assert pod["spec"]["nodeSelector"], "GPU workers must land on GPU nodes"
            assert any(t["key"] == "nvidia.com/gpu" for t in pod["spec"]["tolerations"])
        else:
            assert _gpu(worker) is None, name
            assert device == "cpu", name
            assert "tolerations" not in pod["spec"] and "nodeSelector" not in pod["spec"], name


def test_images_are_pinned_releases(rendered: dict[str, list[Doc]]) -> None:
    for name, docs in rendered.items():
        tags = set()
        for workload, pod in _pods(docs):
            for c in _containers(pod):
                image = c["image"]
                repository, _, tag = image.rpartition(":")
                assert repository and "/" not in tag, f"{name}: {image} has no tag (that means latest)"
                assert tag != "latest" and TAG.match(tag), f"{name}: {image}: tag is not VERSION-gitsha"
                gpu = name == "gpu-worker" and workload["metadata"]["name"] == "hal9-worker"
                assert repository.rsplit("/", 1)[-1] == ("hal9-cuda" if gpu else "hal9"), f"{name}: {image}"
                tags.add(tag)
        assert len(tags) == 1, f"{name}: API, workers and migration must run one release: {tags}"


def test_migration_job_runs_before_the_rollout(rendered: dict[str, list[Doc]]) -> None:
    """``kubectl apply -k <overlay> -l hal9/rollout-phase=pre`` must bring all the Job needs, and no more."""
    key, value = PRE_PHASE
    for name, docs in rendered.items():
        job = _named(docs, "Job", "hal9-migrate")
        pod = _pod_template(job)
        (c,) = pod["spec"]["containers"]
        assert _argv(c) == MIGRATE_COMMAND
        assert pod["spec"]["restartPolicy"] == "Never"
        pre = {
            (d["kind"], d["metadata"]["name"])
            for d in docs
            if d["metadata"].get("labels", {}).get(key) == value
        }
        needed = {("Job", "hal9-migrate"), ("Namespace", NAMESPACE[name])}
        needed |= {("ServiceAccount", pod["spec"]["serviceAccountName"])}
        needed |= {("ConfigMap", s["configMapRef"]["name"]) for s in c.get("envFrom", [])}
        needed |= {("NetworkPolicy", p["metadata"]["name"]) for p in _policies_for(docs, pod)}
        assert needed <= pre, f"{name}: not labelled {key}={value}: {needed - pre}"
        assert not {k for k, _ in pre} & {"Deployment", "Service", "Ingress"}, f"{name}: {pre}"
        # The API and the workers leave the schema to the Job.
        for dep in ("hal9-api", "hal9-worker"):
            _, container = _only_container(docs, "Deployment", dep)
            assert _effective_env(docs, container)["HAL9_AUTO_MIGRATE"] == "false", f"{name}: {dep}"


# ---------------------------------------------------------------------------------------------------------
# Ingress, scaling, network
# ---------------------------------------------------------------------------------------------------------


def test_each_ingress_has_its_own_tls(rendered: dict[str, list[Doc]]) -> None:
    for name, docs in rendered.items():
        host, secret = INGRESS[name]
        (ingress,) = _of_kind(docs, "Ingress")
        assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"], name
        (tls,) = ingress["spec"]["tls"]
        assert tls["secretName"] == secret and tls["hosts"] == [host], name
        assert [r["host"] for r in ingress["spec"]["rules"]] == [host], name
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["name"] == "hal9-api", name
    assert INGRESS["staging"][1] != INGRESS["production"][1]


def test_api_autoscales_on_cpu_and_both_have_disruption_budgets(rendered: dict[str, list[Doc]]) -> None:
    for name, docs in rendered.items():
        (hpa,) = _of_kind(docs, "HorizontalPodAutoscaler")
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "hal9-api",
        }
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"], name
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"], name
        # The autoscaler owns the API's replicas: an apply must not reset them.
        assert "replicas" not in _named(docs, "Deployment", "hal9-api")["spec"], name
        pdbs = _of_kind(docs, "PodDisruptionBudget")
        for dep in ("hal9-api", "hal9-worker"):
            labels = _pod_template(_named(docs, "Deployment", dep))["metadata"]["labels"]
            assert sum(_matches(p["spec"]["selector"], labels) for p in pdbs) == 1, f"{name}: {dep}"


def test_network_policies_allow_only_what_each_component_needs(rendered: dict[str, list[Doc]]) -> None:
    for name, docs in rendered.items():
        policies = _of_kind(docs, "NetworkPolicy")
        deny = [p for p in policies if p["spec"]["podSelector"] == {}]
        assert len(deny) == 1, f"{name}: one default-deny policy expected"
        assert set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        assert not deny[0]["spec"].get("ingress") and not deny[0]["spec"].get("egress")
        expected_egress = {"hal9-api": {5432, 6379, 53}, "hal9-worker": {5432, 5000, 53}}
        for workload, pod in _pods(docs):
            own = [p for p in _policies_for(docs, pod) if p["spec"]["podSelector"] != {}]
            assert own, f"{name}: {workload['metadata']['name']} has only the default deny"
            ingress = [r for p in own for r in p["spec"].get("ingress", [])]
            egress = [r for p in own for r in p["spec"].get("egress", [])]
            for rule in [*ingress, *egress]:
                assert rule.get("ports"), f"{name}: a rule without ports allows every port"
            for rule in egress:
                if _ports([rule]) & {53}:
                    # DNS to the cluster's DNS pods only, not port 53 anywhere.
                    assert rule.get("to"), f"{name}: DNS egress without a destination"
            wname = workload["metadata"]["name"]
            if wname == "hal9-api":
                assert _ports(ingress) == {8000}, name
                for rule in ingress:
                    sources = rule.get("from", [])
                    assert sources and all(set(s) == {"namespaceSelector"} for s in sources), name
                namespaces = {
                    s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                    for rule in ingress
                    for s in rule["from"]
                }
                assert "ingress-nginx" in namespaces, name
            else:
                assert not ingress, f"{name}: {wname} accepts connections"
            assert _ports(egress) == expected_egress.get(wname, {5432, 53}), f"{name}: {wname}"


# ---------------------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------------------


def _setting_env_names(settings_module: Any) -> set[str]:
    """Every environment variable name the service reads (aliases replace the prefixed name)."""
    from pydantic import AliasChoices

    names: set[str] = set()
    fields = dict(settings_module.Settings.model_fields)
    fields.pop("limits")  # nested JobLimits: a settings class of its own, same prefix
    fields.update(settings_module.JobLimits.model_fields)
    for field_name, field in fields.items():
        alias = field.validation_alias
        if alias is None:
            names.add(f"HAL9_{field_name.upper()}")
        elif isinstance(alias, AliasChoices):
            names.update(c for c in alias.choices if isinstance(c, str))
        else:
            names.add(str(alias))
    return names


def test_every_hal9_variable_is_a_real_setting(rendered: dict[str, list[Doc]], settings_module: Any) -> None:
    known = _setting_env_names(settings_module)
    assert {"DATABASE_URL", "REDIS_URL", "HAL9_SECRET_KEY", "HAL9_MAX_STEPS"} <= known
    for name, docs in rendered.items():
        used = {k for data in _config_maps(docs).values() for k in data}
        for _, pod in _pods(docs):
            for c in _containers(pod):
                used |= set(_effective_env(docs, c))
        unknown = {v for v in used if v.startswith("HAL9_") or v in {"DATABASE_URL", "REDIS_URL"}} - known
        assert not unknown, f"{name}: not settings of hal9.serve: {sorted(unknown)}"


def test_each_container_environment_is_valid_production_settings(
    rendered: dict[str, list[Doc]], settings_module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    placeholders = {
        "DATABASE_URL": "postgresql://hal9@db.invalid:5432/hal9",
        "REDIS_URL": "redis://redis.invalid:6379/0",
        "HAL9_SECRET_KEY": "k8s-manifest-test-" + "x" * 40,
    }
    for name, docs in rendered.items():
        for workload, pod in _pods(docs):
            for c in _containers(pod):
                for var in list(os.environ):
                    if var.startswith("HAL9_") or var in placeholders:
                        monkeypatch.delenv(var)
                for var, value in _effective_env(docs, c).items():
                    if var.startswith("HAL9_") or var in placeholders:
                        monkeypatch.setenv(var, placeholders[var] if value is None else value)
                where = f"{name}: {workload['metadata']['name']}/{c['name']}"
                s = settings_module.Settings(_env_file=None)
                assert s.environment == "production", where
                assert s.uses_queue and not s.auto_migrate, where
                assert s.log_json, where
                # The Ingress routes every path to the API: /metrics must ask for a credential.
                assert s.metrics_access != "open", where
                assert s.data_dir.is_absolute(), where
