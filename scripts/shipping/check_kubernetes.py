"""Checks the invariants of a rendered overlay that schemas cannot see:
probes, the pod's security settings, config from a ConfigMap, secrets only
by reference, egress limited, and the overlay's Redis.

Usage: check_kubernetes.py OVERLAY RENDERED_YAML   (OVERLAY: dev | prod)
"""

import sys

import yaml


def fail(message):
    sys.exit(f"check_kubernetes ({OVERLAY}): {message}")


def one(objects, kind, name):
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    if len(found) != 1:
        fail(f"expected one {kind} {name}, found {len(found)}")
    return found[0]


def main():
    objects = [o for o in yaml.safe_load_all(open(RENDERED)) if o]
    kinds = {o["kind"] for o in objects}
    for kind in ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                 "NetworkPolicy", "ConfigMap", "ServiceAccount"]:
        if kind not in kinds:
            fail(f"no {kind}")
    if "Secret" in kinds:
        fail("a Secret is rendered: secrets are referenced, never committed")

    pod = one(objects, "Deployment", "joinchat")["spec"]["template"]["spec"]
    if pod.get("automountServiceAccountToken") is not False:
        fail("the pod mounts a service-account token")
    if pod["securityContext"].get("runAsNonRoot") is not True:
        fail("the pod may run as root")
    (bot,) = [c for c in pod["containers"] if c["name"] == "joinchat"]
    context = bot["securityContext"]
    wanted = {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}
    for key, value in wanted.items():
        if context.get(key) is not value:
            fail(f"securityContext.{key} is not {value}")
    if context.get("capabilities", {}).get("drop") != ["ALL"]:
        fail("capabilities are not all dropped")
    if bot["livenessProbe"]["httpGet"]["path"] != "/healthz":
        fail("liveness is not /healthz")
    if bot["readinessProbe"]["httpGet"]["path"] != "/readyz":
        fail("readiness is not /readyz")
    if not bot.get("resources", {}).get("requests") or not bot["resources"].get("limits"):
        fail("no resource requests and limits")

    (config_ref,) = [e["configMapRef"]["name"] for e in bot["envFrom"] if "configMapRef" in e]
    config = one(objects, "ConfigMap", config_ref)["data"]
    if config.get("JOINCHAT_LISTEN") != "0.0.0.0:3978":
        fail(f"JOINCHAT_LISTEN is {config.get('JOINCHAT_LISTEN')!r}, not 0.0.0.0:3978")
    for required in ["JOINCHAT_APP_ID", "JOINCHAT_TENANT_ID", "JOINCHAT_DATAVERSE_URL"]:
        if required not in config:
            fail(f"{required} is not in the ConfigMap")
    env = {e["name"]: e for e in bot.get("env", [])}
    for name, item in env.items():
        if "value" in item and any(word in name for word in ["PASSWORD", "SECRET", "KEY"]):
            fail(f"{name} has a literal value")
    if "secretKeyRef" not in env.get("JOINCHAT_APP_PASSWORD", {}).get("valueFrom", {}):
        fail("JOINCHAT_APP_PASSWORD is not a secretKeyRef")

    if OVERLAY == "dev":
        if not config.get("JOINCHAT_REDIS_URL", "").startswith("redis://joinchat-redis:"):
            fail("dev does not use the in-cluster Redis")
        one(objects, "Deployment", "joinchat-redis")
    if OVERLAY == "prod":
        redis = env.get("JOINCHAT_REDIS_URL", {}).get("valueFrom", {})
        if "secretKeyRef" not in redis or "JOINCHAT_REDIS_URL" in config:
            fail("prod's JOINCHAT_REDIS_URL (rediss://, with its password) must come from the Secret")

    policy = one(objects, "NetworkPolicy", "joinchat")
    ports = sorted({p["port"] for rule in policy["spec"]["egress"] for p in rule.get("ports", [])})
    allowed = {"dev": [53, 443, 6379], "prod": [53, 443, 6380]}[OVERLAY]
    if ports != allowed:
        fail(f"egress ports are {ports}, expected {allowed}")
    ingress = sorted({p["port"] for rule in policy["spec"]["ingress"] for p in rule.get("ports", [])})
    if ingress != [3978]:
        fail(f"ingress ports are {ingress}, expected [3978]")
    print(f"{OVERLAY}: {len(objects)} objects, invariants hold")


OVERLAY, RENDERED = sys.argv[1], sys.argv[2]
if __name__ == "__main__":
    main()
