"""RFC 3161 timestamps of the checkpoints, against a local TSA built with `openssl ts`.

A throw-away CA and TSA certificate are made with the openssl CLI in the test's tmp dir and
served on loopback (tests/tsafix.py). Round trip through `watchdog checkpoint` and `watchdog
verify`; what each token covers; one request per checkpoint and `tsa_every` in the daemon's
checkpointer; a tampered token, a token over another digest, a TSA that is down; bundles that
carry the tokens and the CA, checked by `watchdog verify BUNDLE.zip` and by the real
`openssl ts -verify` run with the command the bundle's README gives.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shlex
import socket
import subprocess
import textwrap
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from reportdata import Spec, fill, paris, target
from tsafix import Authority, LocalTSA

from watchdog.bundle import export_bundle, layout, verify_bundle
from watchdog.cli.main import main
from watchdog.config.loader import load_config
from watchdog.domain.errors import ConfigError
from watchdog.domain.models import Observation, Outcome
from watchdog.stats import Period
from watchdog.store import Store, timestamps
from watchdog.store import checkpoint as checkpoints

MakeObs = Callable[..., Observation]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def write_config(folder: Path, url: str, ca: Path) -> str:
    path = folder / "watchdog.yaml"
    path.write_text(
        textwrap.dedent(f"""\
            watchdog:
              data_dir: data
            checkpoints:
              tsa_url: {url}
              tsa_ca: {ca}
              tsa_timeout: 5s
            """),
        encoding="utf-8",
    )
    return str(path)


def fill_store(data_dir: Path, make_observation: MakeObs, a: range, b: range) -> None:
    with Store.open(data_dir) as store:
        for n in a:
            store.append(make_observation("paris-a", n))
        for n in b:
            store.append(make_observation("paris-b", n))


def tokens_in(data_dir: Path) -> list[Path]:
    return sorted((data_dir / timestamps.DIR).glob("*.tsr"))


def test_round_trip_checkpoint_then_verify_says_what_each_token_covers(
    tmp_path: Path, tsa: LocalTSA, make_observation: MakeObs, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, tsa.url, tsa.authority.ca)
    data = tmp_path / "data"
    fill_store(data, make_observation, range(3), range(2))
    assert main(["checkpoint", "--config", config]) == 0
    assert "Timestamped by http://127.0.0.1:" in capsys.readouterr().out
    assert tsa.requests == 1  # one request per checkpoint
    (first,) = tokens_in(data)
    written = json.loads((data / checkpoints.FILE).read_text())
    assert first.stem == written["digest"]
    body = first.with_suffix(".json").read_bytes()
    assert hashlib.sha256(body).hexdigest() == written["digest"]  # content-addressed

    fill_store(data, make_observation, range(3, 5), range(0))
    assert main(["checkpoint", "--config", config]) == 0
    assert tsa.requests == 2 and len(tokens_in(data)) == 2
    capsys.readouterr()
    assert main(["verify", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "OK: every chain links up" in out and "2 valid timestamp(s):" in out
    lines = [line for line in out.splitlines() if line.startswith("  Timestamp ")]
    assert len(lines) == 2
    assert re.search(r"covers paris-a seq 1–3 \(\S+ → \S+\), paris-b seq 1–2 \(", lines[0])
    assert "Throw-away test TSA" in lines[0]
    assert re.search(r"covers paris-a seq 4–5 \(", lines[1]) and "paris-b" not in lines[1]
    assert "no timestamp" not in out


def one_token(tmp_path: Path, tsa: LocalTSA, make_observation: MakeObs) -> tuple[str, Path]:
    """A store of two chains, checkpointed once with a token: (config, the token's file)."""
    config = write_config(tmp_path, tsa.url, tsa.authority.ca)
    fill_store(tmp_path / "data", make_observation, range(2), range(1))
    assert main(["checkpoint", "--config", config]) == 0
    (token,) = tokens_in(tmp_path / "data")
    return config, token


def test_a_tampered_token_fails_verification(
    tmp_path: Path, tsa: LocalTSA, make_observation: MakeObs, capsys: pytest.CaptureFixture[str]
) -> None:
    config, token = one_token(tmp_path, tsa, make_observation)
    raw = bytearray(token.read_bytes())
    raw[-10] ^= 0x01  # inside the TSA's signature
    token.write_bytes(bytes(raw))
    capsys.readouterr()
    assert main(["verify", "--config", config]) == 1
    out = capsys.readouterr().out
    assert "FAILED: 1 problem(s) found." in out
    assert f"Timestamp FAILED: {token.name}: its signature does not verify" in out


def test_a_token_over_another_digest_fails_verification(
    tmp_path: Path, tsa: LocalTSA, make_observation: MakeObs, capsys: pytest.CaptureFixture[str]
) -> None:
    config, token = one_token(tmp_path, tsa, make_observation)
    other = tsa.authority.token_over(b"another checkpoint", "other")  # valid, wrong imprint
    token.write_bytes(other)
    capsys.readouterr()
    assert main(["verify", "--config", config]) == 1
    out = capsys.readouterr().out
    imprint = hashlib.sha256(b"another checkpoint").hexdigest()
    assert (
        f"Timestamp FAILED: {token.name}: its message imprint {imprint} is not the "
        f"checkpoint's digest {token.stem}: this token covers something else." in out
    )


def test_a_body_left_without_its_token_is_a_note_not_a_failure(
    tmp_path: Path, tsa: LocalTSA, make_observation: MakeObs, capsys: pytest.CaptureFixture[str]
) -> None:
    config, token = one_token(tmp_path, tsa, make_observation)
    token.unlink()  # as a crash between the two atomic writes would leave it
    capsys.readouterr()
    assert main(["verify", "--config", config]) == 0
    out = capsys.readouterr().out
    assert f"Note: {token.stem}.json has no token beside it" in out
    assert "valid timestamp(s)" not in out and "Note: no timestamp of the last checkpoint" in out


def test_a_reply_flipped_or_cut_anywhere_gives_a_verdict_never_a_traceback(
    authority: Authority,
) -> None:
    """Every byte flipped, every truncation: check_token answers. What the TSA signs (the
    TSTInfo with the imprint, the signed attributes, the signature) never survives a flip;
    the few bytes that do are unsigned CMS metadata (versions, the signature algorithm's
    OID, which OpenSSL derives from the key) that change nothing the token asserts."""
    heads = [checkpoints.Head(target="paris-a", seq=3, hash="ab" * 32)]
    body = checkpoints._body("2026-12-07T10:00:00.000000Z", "0123456789abcdef", heads)
    name = hashlib.sha256(body).hexdigest()
    reply = authority.token_over(body, "fuzz")
    roots = timestamps.read_certificates(authority.ca)
    assert timestamps.check_token(name, body, reply, roots).problem is None
    at = reply.find(bytes.fromhex(name))
    signed = set(range(at - 20, at + 60)) | set(range(len(reply) - 64, len(reply)))
    survived = []
    for i in range(len(reply)):
        flipped = reply[:i] + bytes([reply[i] ^ 0xFF]) + reply[i + 1 :]
        if timestamps.check_token(name, body, flipped, roots).problem is None:
            survived.append(i)
    assert at > 0 and not signed & set(survived) and len(survived) <= 16, survived
    for n in range(len(reply)):
        assert timestamps.check_token(name, body, reply[:n], roots).problem is not None


def test_tsa_down_writes_the_checkpoint_without_a_token(
    tmp_path: Path, authority: Authority, make_observation: MakeObs,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    config = write_config(tmp_path, f"http://127.0.0.1:{closed_port()}/tsr", authority.ca)
    data = tmp_path / "data"
    fill_store(data, make_observation, range(2), range(1))
    assert main(["checkpoint", "--config", config]) == 1
    printed = capsys.readouterr()
    assert "Wrote the checkpoint of" in printed.out
    assert "error: no timestamp from http://127.0.0.1:" in printed.err
    assert "cannot reach the TSA" in printed.err and "written without one" in printed.err
    assert (data / checkpoints.FILE).is_file() and tokens_in(data) == []
    assert main(["verify", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "Note: no timestamp of the last checkpoint" in out


def test_the_daemons_checkpointer_asks_once_per_tsa_every_and_counts(
    tmp_path: Path, tsa: LocalTSA, make_observation: MakeObs, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(Path(write_config(tmp_path, tsa.url, tsa.authority.ca)))
    found = timestamps.Authority.of(config)
    assert found is not None and found.every == 3600 and found.ca == tsa.authority.ca
    data = config.watchdog.data_dir
    results: list[str] = []
    with Store.open(data) as store:
        writer = checkpoints.Checkpointer(store, data, found, results.append)
        store.append(make_observation("paris-a", 0))
        assert writer.tick(1) is not None
        store.append(make_observation("paris-a", 1))
        second = writer.tick(2)
        assert second is not None  # the checkpoint is written; its token is not due yet
        assert results == ["ok"] and tsa.requests == 1 and len(tokens_in(data)) == 1
        # A restarted daemon reads the last token's time: still not due.
        again = checkpoints.Checkpointer(store, data, found, results.append)
        store.append(make_observation("paris-a", 2))
        assert again.tick(3) is not None and tsa.requests == 1

    down = timestamps.Authority(
        f"http://127.0.0.1:{closed_port()}/tsr", found.ca, 2.0, 3600.0, "test"
    )
    other = tmp_path / "other"
    with Store.open(other) as store, caplog.at_level(logging.ERROR):
        writer = checkpoints.Checkpointer(store, other, down, results.append)
        store.append(make_observation("paris-a", 0))
        assert writer.tick(1) is not None and (other / checkpoints.FILE).is_file()
        store.append(make_observation("paris-a", 1))
        assert writer.tick(2) is not None  # a failure waits its turn: no second request
    assert results == ["ok", "failed"]
    assert "not obtained: cannot reach the TSA" in caplog.text


def test_config_is_strict_and_located(tmp_path: Path) -> None:
    def problems(body: str) -> list[str]:
        path = tmp_path / "watchdog.yaml"
        path.write_text(textwrap.dedent(body), encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_config(path)
        return [str(p) for p in info.value.problems]

    (alone,) = problems("checkpoints:\n  tsa_url: https://tsa.example/tsr\n")
    assert re.search(r"watchdog\.yaml:2: checkpoints\.tsa_url: .*tsa_url needs tsa_ca", alone)
    (short,) = problems("checkpoints:\n  tsa_ca: ca.pem\n  tsa_every: 10s\n")
    assert re.search(r":3: checkpoints\.tsa_every: .*must be at least 1m", short)
    (scheme,) = problems("checkpoints:\n  tsa_url: ftp://tsa.example\n  tsa_ca: ca.pem\n")
    assert re.search(r":2: checkpoints\.tsa_url: .*not an http:// or https:// URL", scheme)
    (typo,) = problems("checkpoints:\n  tsa_urll: https://tsa.example/tsr\n")
    assert re.search(r":2: checkpoints\.tsa_urll: .*", typo)
    (slow,) = problems("checkpoints:\n  tsa_timeout: 5m\n")
    assert ":2: checkpoints.tsa_timeout:" in slow and "between 1s and 2m" in slow


# -- bundles --------------------------------------------------------------------------------

PERIOD = Period.from_dates(date(2026, 11, 2), date(2026, 11, 8))
T1 = target("seine-saint-denis-premiere", "93", "Seine-Saint-Denis")


@pytest.fixture
def stamped_bundle(tmp_path: Path, tsa: LocalTSA) -> Path:
    """A store stamped twice (its chain in two stretches), exported with the TSA's CA."""
    data = tmp_path / "data"
    found = timestamps.Authority(tsa.url, tsa.authority.ca, 5.0, 3600.0, "test")
    with Store.open(data) as store:
        fill(store, T1.id, [Spec(paris(2026, 11, d, 10), Outcome.NO_SLOT) for d in (2, 3)])
        checkpoints.stamp(data, checkpoints.write(store), found)
        fill(store, T1.id, [Spec(paris(2026, 11, d, 10), Outcome.NO_SLOT) for d in (4, 5)])
        checkpoints.stamp(data, checkpoints.write(store), found)
        out = tmp_path / "lot.zip"
        result = export_bundle(
            store, [T1], since=PERIOD.since, until=PERIOD.until, out=out, tsa_ca=found.ca
        )
    assert result.timestamps == 2 and result.timestamps_left_out is None
    return out


def test_a_bundle_carries_the_tokens_and_verify_checks_them(
    stamped_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = zipfile.ZipFile(stamped_bundle).namelist()
    stamped = sorted(n for n in names if n.startswith("horodatages/"))
    assert len(stamped) == 5 and layout.TSA_CA in stamped  # 2 × (body, reply) + the CA
    assert main(["verify", str(stamped_bundle)]) == 0
    out = capsys.readouterr().out
    assert "OK: every file matches" in out
    assert "2 valid timestamp(s), checked against horodatages/ca-tsa.pem" in out
    assert "CN=Throw-away test CA (SHA-256 " in out
    lines = [line for line in out.splitlines() if line.startswith("  Timestamp ")]
    assert f"covers {T1.id} seq 1–2" in lines[0] and f"covers {T1.id} seq 3–4" in lines[1]
    assert "no timestamp in the bundle covers" not in out


def test_openssl_alone_verifies_the_bundles_tokens_with_the_readmes_command(
    stamped_bundle: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(stamped_bundle) as archive:
        archive.extractall(folder)
        readme = archive.read(layout.README).decode()
    # The command as the README prints it (French section), continuation line joined.
    start = readme.index("  openssl ts -verify")
    command = readme[start:].split("\n", 2)
    line = (command[0].rstrip("\\").strip() + " " + command[1].strip()).strip()
    digests = sorted(p.stem for p in (folder / "horodatages").glob("*.tsr"))
    assert len(digests) == 2
    for digest in digests:
        argv = shlex.split(line.replace("<empreinte>", digest))
        done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, check=False)
        assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stderr
    # …and openssl refuses a token checked against another checkpoint's body.
    argv = shlex.split(line.replace("<empreinte>.json", f"{digests[0]}.json")
                       .replace("<empreinte>.tsr", f"{digests[1]}.tsr"))  # fmt: skip
    done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "Verification: FAILED" in done.stdout


def _replace_member(bundle: Path, out: Path, name: str, data: bytes) -> Path:
    """`bundle` with `name` replaced by `data`, manifest.json and SHA256SUMS made to agree."""
    archive = zipfile.ZipFile(bundle)
    manifest = json.loads(archive.read(layout.MANIFEST))
    for entry in manifest["files"]:
        if entry["path"] == name:
            entry.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    manifest_bytes = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode()
    sums = {e["path"]: e["sha256"] for e in manifest["files"]}
    sums[layout.MANIFEST] = hashlib.sha256(manifest_bytes).hexdigest()
    replaced = {name: data, layout.MANIFEST: manifest_bytes, layout.SUMS: layout.sums_text(sums)}
    with zipfile.ZipFile(out, "w") as new:
        for info in archive.infolist():
            new.writestr(info, replaced.get(info.filename, archive.read(info)))
    return out


@pytest.mark.parametrize("how", ["tampered", "other-digest"])
def test_a_bad_token_in_a_consistent_bundle_is_named(
    stamped_bundle: Path, tmp_path: Path, tsa: LocalTSA, how: str
) -> None:
    names = zipfile.ZipFile(stamped_bundle).namelist()
    token = sorted(n for n in names if n.endswith(".tsr"))[0]
    if how == "tampered":
        raw = bytearray(zipfile.ZipFile(stamped_bundle).read(token))
        raw[-10] ^= 0x01
        data, expected = bytes(raw), "its signature does not verify"
    else:
        data = tsa.authority.token_over(b"something else", "bundle-other")
        expected = "is not the checkpoint's digest"
    check = verify_bundle(_replace_member(stamped_bundle, tmp_path / "bad.zip", token, data))
    assert not check.ok
    assert check.problems == [f"{token}: {check.problems[0].split(': ', 1)[1]}"]
    assert expected in check.problems[0]
    assert "FAILED: horodatages/" in check.render()


def test_without_tsa_ca_the_bundle_leaves_the_tokens_out_and_says_why(
    tmp_path: Path, tsa: LocalTSA
) -> None:
    data = tmp_path / "data"
    found = timestamps.Authority(tsa.url, tsa.authority.ca, 5.0, 3600.0, "test")
    with Store.open(data) as store:
        fill(store, T1.id, [Spec(paris(2026, 11, 3, 10), Outcome.NO_SLOT)])
        checkpoints.stamp(data, checkpoints.write(store), found)
        result = export_bundle(
            store, [T1], since=PERIOD.since, until=PERIOD.until, out=tmp_path / "lot.zip"
        )
    assert result.timestamps == 0
    assert result.timestamps_left_out is not None and "tsa_ca" in result.timestamps_left_out
    assert verify_bundle(result.path).ok


def test_a_bundle_of_a_store_without_timestamps_has_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store.open(tmp_path / "data") as store:
        fill(store, T1.id, [Spec(paris(2026, 11, 3, 10), Outcome.NO_SLOT)])
        checkpoints.write(store)
        out = tmp_path / "lot.zip"
        export_bundle(store, [T1], since=PERIOD.since, until=PERIOD.until, out=out)
    assert not [n for n in zipfile.ZipFile(out).namelist() if n.startswith("horodatages/")]
    assert main(["verify", str(out)]) == 0
    assert "timestamp" not in capsys.readouterr().out.lower()
