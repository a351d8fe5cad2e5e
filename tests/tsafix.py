"""A local RFC 3161 time-stamping authority, built at test time with the openssl CLI.

`make_authority(folder)` makes a throw-away CA and a TSA certificate signed by it (critical
extendedKeyUsage timeStamping) with `openssl req` / `openssl x509`, and an `openssl ts`
configuration. `LocalTSA` serves it on loopback: a tiny aiohttp handler writes each request
to a file and answers with what `openssl ts -reply` makes of it. Nothing here is mocked: the
watchdog talks HTTP to a real TSA whose tokens openssl itself signs.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

EXTENSIONS = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = Throw-away test CA
[v3_ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_tsa]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

# `certs` is left out: the reply then embeds the signer's certificate only (cert_req). With
# the CA too, openssl writes the CMS certificate SET out of DER order, which rfc3161-client
# 1.0.9 refuses to parse.
TSA_CONFIG = """\
[tsa]
default_tsa = tsa_config
[tsa_config]
serial = {dir}/serial
crypto_device = builtin
signer_cert = {dir}/tsa.pem
signer_key = {dir}/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def openssl(*args: str, cwd: Path) -> bytes:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed: {done.stderr.decode()}")
    return done.stdout


@dataclass(frozen=True)
class Authority:
    """The files of a throw-away TSA: `ca` is what a verifier trusts."""

    dir: Path
    ca: Path
    cert: Path
    config: Path

    def reply(self, query: bytes, name: str) -> bytes:
        """What `openssl ts -reply` answers to `query` (DER)."""
        asked, answer = self.dir / f"{name}.tsq", self.dir / f"{name}.tsr"
        asked.write_bytes(query)
        openssl("ts", "-reply", "-config", str(self.config), "-queryfile", str(asked),
                "-out", str(answer), cwd=self.dir)  # fmt: skip
        return answer.read_bytes()

    def token_over(self, data: bytes, name: str) -> bytes:
        """A token over SHA-256(`data`), asked for with `openssl ts -query` itself."""
        source, asked = self.dir / f"{name}.data", self.dir / f"{name}-direct.tsq"
        source.write_bytes(data)
        openssl("ts", "-query", "-data", str(source), "-sha256", "-cert", "-out", str(asked),
                cwd=self.dir)  # fmt: skip
        return self.reply(asked.read_bytes(), f"{name}-direct")


def make_authority(folder: Path) -> Authority:
    """A CA and a TSA certificate signed by it, valid two days, made with the openssl CLI."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ca.cnf").write_text(EXTENSIONS)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    openssl("req", "-x509", "-new", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-config", "ca.cnf", "-extensions", "v3_ca", cwd=folder)  # fmt: skip
    openssl("req", "-new", *ec, "-keyout", "tsa.key", "-out", "tsa.csr",
            "-subj", "/CN=Throw-away test TSA", cwd=folder)  # fmt: skip
    openssl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "tsa.pem", "-days", "2", "-extfile", "ca.cnf",
            "-extensions", "v3_tsa", cwd=folder)  # fmt: skip
    (folder / "serial").write_text("01\n")
    (folder / "tsa.cnf").write_text(TSA_CONFIG.format(dir=folder))
    return Authority(folder, folder / "ca.pem", folder / "tsa.pem", folder / "tsa.cnf")


class LocalTSA:
    """`authority` served over HTTP on 127.0.0.1 from a thread of its own."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority
        self.requests = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._lock = asyncio.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tsr"

    async def _answer(self, request: web.Request) -> web.Response:
        query = await request.read()
        async with self._lock:  # openssl ts -reply increments one serial file
            self.requests += 1
            name = f"request-{self.requests}"
            body = await asyncio.to_thread(self.authority.reply, query, name)
        return web.Response(body=body, content_type="application/timestamp-reply")

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/tsr", self._answer)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def start(self) -> LocalTSA:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
