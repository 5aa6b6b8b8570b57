"""deploy/k8s: what `kubectl apply -k` would apply (rendered by kustomize), validated offline against the
Kubernetes OpenAPI schemas bundled in kubernetes-validate, plus the points the schemas cannot see.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

from pipeline.ops.cli import build_parser  # noqa: E402
from tests.support.deploy_files import kustomize_binary, parse_dockerfile  # noqa: E402

K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OBJECT_STORE = K8S / "overlays" / "object-store"
# The oldest Kubernetes the manifests promise to work on, and the newest schema bundled.
KUBERNETES_VERSIONS = ("1.31.0", "1.37.0")
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|KEY|CREDENTIAL)", re.IGNORECASE)
METRICS_PORT = 9108


def render(directory: Path) -> list[dict]:
    result = subprocess.run([kustomize_binary(), "build", str(directory)], capture_output=True, text=True)
    assert result.returncode == 0, f"kustomize build {directory} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def the(docs: list[dict], kind: str) -> dict:
    (doc,) = by_kind(docs, kind)
    return doc


@pytest.fixture(scope="module")
def base() -> list[dict]:
    return render(BASE)


@pytest.fixture(scope="module")
def object_store() -> list[dict]:
    return render(OBJECT_STORE)


def container(docs: list[dict]) -> dict:
    (job,) = the(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return job


def expanded_args(docs: list[dict]) -> list[str]:
    """The container's args with $(VAR) expanded the way the kubelet does (from the ConfigMap and env)."""
    config = the(docs, "ConfigMap")["data"]
    env = {e["name"]: e["value"] for e in container(docs).get("env", []) if "value" in e}
    values = {**config, **env}

    def expand(arg: str) -> str:
        for name in re.findall(r"\$\((\w+)\)", arg):
            assert name in values, f"$({name}) is not defined: the kubelet would pass it literally"
        return re.sub(r"\$\((\w+)\)", lambda m: values[m.group(1)], arg)

    return [expand(a) for a in container(docs)["args"]]


# --------------------------------------------------------------------------- schema validation


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("directory", [BASE, OBJECT_STORE], ids=["base", "object-store"])
def test_rendered_manifests_match_the_kubernetes_schemas(directory: Path, version: str) -> None:
    docs = render(directory)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_file_matches_the_kubernetes_schemas(version: str) -> None:
    files = [p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml"]
    assert K8S / "secret.example.yaml" in files
    for path in files:
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                kubernetes_validate.validate(doc, version, strict=True)


def test_the_base_lists_every_manifest_but_the_example_secret() -> None:
    listed = yaml.safe_load((BASE / "kustomization.yaml").read_text(encoding="utf-8"))["resources"]
    present = sorted(p.name for p in BASE.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == present


def test_validation_rejects_a_broken_manifest(base: list[dict]) -> None:
    broken = yaml.safe_load(yaml.safe_dump(the(base, "Deployment")))
    broken["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


# --------------------------------------------------------------------------- what the schemas cannot see


def test_one_job_per_lake(base: list[dict]) -> None:
    spec = the(base, "Deployment")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate", "never two pods on one lake, not even during a rollout"
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] >= 60, "time to finish the batch in flight"


def test_args_are_a_valid_newswire_run_without_secrets(base: list[dict]) -> None:
    args = expanded_args(base)
    parsed, _extra = build_parser().parse_known_args(args)
    assert parsed.command == "run"
    assert parsed.topic and parsed.bootstrap_servers
    assert not parsed.allow_plaintext, "the cluster manifest talks SASL_SSL"
    for arg in args:
        assert not re.search(r"(password|secret|token)", arg, re.IGNORECASE), arg


def test_probes_on_healthz_and_metrics_of_the_metrics_port(base: list[dict]) -> None:
    job = container(base)
    (port,) = [p for p in job["ports"] if p["name"] == "metrics"]
    assert port["containerPort"] == METRICS_PORT
    assert job["args"][job["args"].index("--metrics-port") + 1] == str(METRICS_PORT)
    assert job["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert job["readinessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    assert job["startupProbe"]["httpGet"]["path"] == "/healthz"
    (service_port,) = the(base, "Service")["spec"]["ports"]
    assert service_port["targetPort"] == "metrics"
    selector = the(base, "Service")["spec"]["selector"]
    labels = the(base, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()


def test_resources_and_a_locked_down_security_context(base: list[dict]) -> None:
    pod = the(base, "Deployment")["spec"]["template"]["spec"]
    job = container(base)
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(job["resources"][kind])
    assert pod["securityContext"]["runAsNonRoot"] is True
    image_user = parse_dockerfile(ROOT / "deploy" / "Dockerfile").final.all("USER")[-1].text.split(":")[0]
    assert pod["securityContext"]["runAsUser"] == int(image_user), "the uid the image was built for"
    assert job["securityContext"]["readOnlyRootFilesystem"] is True
    assert job["securityContext"]["allowPrivilegeEscalation"] is False
    assert job["securityContext"]["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"] for m in job["volumeMounts"]}
    assert "/tmp" in mounts, "a writable /tmp beside the read-only root"


def test_ner_processes_match_the_cpu_limit(base: list[dict]) -> None:
    parsed = build_parser().parse_known_args(expanded_args(base))[0]
    assert parsed.ner_processes == int(container(base)["resources"]["limits"]["cpu"])


def test_lake_is_the_persistent_volume_claim(base: list[dict]) -> None:
    lake = str(build_parser().parse_known_args(expanded_args(base))[0].lake)
    pod = the(base, "Deployment")["spec"]["template"]["spec"]
    (mount,) = [m for m in container(base)["volumeMounts"] if m["mountPath"] == lake]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    claim = the(base, "PersistentVolumeClaim")
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def secret_file_paths(docs: list[dict]) -> dict[str, str]:
    """mount path of every file projected from a Secret -> (secret name, key)."""
    job = container(docs)
    pod = the(docs, "Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    files = {}
    for mount in job["volumeMounts"]:
        secret = volumes[mount["name"]].get("secret")
        if secret:
            for item in secret.get("items", []):
                files[f"{mount['mountPath']}/{item['path']}"] = (secret["secretName"], item["key"])
    return files


def test_credentials_reach_the_job_as_files_never_as_values(base: list[dict], tmp_path: Path) -> None:
    from pipeline.io.kafka.config import ENV_PREFIX, security_settings

    job = container(base)
    config = the(base, "ConfigMap")["data"]
    files = secret_file_paths(base)
    for env in job["env"]:
        name = env["name"]
        if "value" in env and SECRET_NAME.search(name):
            assert name.endswith("_FILE"), f"{name} carries a secret as a literal value"
            assert env["value"] in files, f"{name} points outside the mounted Secret"
    for key in config:
        assert not SECRET_NAME.search(key), f"ConfigMap key {key} looks like a secret"
    env = {e["name"]: e["value"] for e in job["env"] if "value" in e}
    assert files[env[ENV_PREFIX + "SASL_PASSWORD_FILE"]] == ("newswire-kafka", "password")
    (username,) = [e for e in job["env"] if e["name"] == ENV_PREFIX + "SASL_USERNAME"]
    assert username["valueFrom"]["secretKeyRef"] == {"name": "newswire-kafka", "key": "username"}

    # The pod's environment, resolved by the job's own code, with the Secret's files stood in for.
    stand_ins = {}
    for path, (_secret, key) in files.items():
        stand_ins[path] = tmp_path / key
        stand_ins[path].write_text(f"value of {key}\n", encoding="utf-8")
    pod_env = {**config, ENV_PREFIX + "SASL_USERNAME": "newswire"}
    pod_env.update({k: str(stand_ins.get(v, v)) for k, v in env.items()})
    settings = security_settings(pod_env)
    assert settings["security_protocol"] == "SASL_SSL"
    assert settings["sasl_mechanism"].startswith("SCRAM-SHA-")
    assert settings["sasl_plain_username"] == "newswire"
    assert settings["sasl_plain_password"] == "value of password"
    assert settings["ssl_cafile"] == str(tmp_path / "ca.crt")


def test_the_example_secret_holds_every_key_the_pod_uses(base: list[dict]) -> None:
    secret = yaml.safe_load((K8S / "secret.example.yaml").read_text(encoding="utf-8"))
    used = set(secret_file_paths(base).values()) | {("newswire-kafka", "username")}
    assert {(secret["metadata"]["name"], key) for key in secret["stringData"]} >= used


def test_object_store_overlay_drops_the_volume_and_points_the_lake_at_a_bucket(object_store: list[dict]) -> None:
    assert not by_kind(object_store, "PersistentVolumeClaim")
    lake = build_parser().parse_known_args(expanded_args(object_store))[0].lake
    assert str(the(object_store, "ConfigMap")["data"]["NEWSWIRE_LAKE"]).startswith("s3://")
    assert "s3:" in str(lake)
    pod = the(object_store, "Deployment")["spec"]["template"]["spec"]
    assert not [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    env = {e["name"]: e.get("value") for e in container(object_store)["env"]}
    assert env["AWS_SHARED_CREDENTIALS_FILE"] in {f"{m['mountPath']}/credentials" for m in container(object_store)["volumeMounts"]}
