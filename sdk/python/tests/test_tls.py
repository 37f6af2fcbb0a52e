"""TLS: an `agora server` that requires client certificates signed by the cluster's CA (made
by `agora certs create`), reached with the CA file and a client certificate and key."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from agora_sdk import Agora, Unreachable

from conftest import agora_bin, start_server


def test_https_with_the_cluster_ca_and_a_client_certificate(scratch):
    certs = scratch.path / "certs"
    subprocess.run(
        [agora_bin(), "certs", "create", "--server", "localhost,127.0.0.1", "--agents", "sdk", "--dir", str(certs)],
        check=True,
        capture_output=True,
    )
    data_dir = scratch.path / "data"
    _, url = start_server(
        scratch,
        "tls",
        ["--data-dir", str(data_dir), "--tls-cert", str(certs / "server.pem"), "--tls-key",
         str(certs / "server.key"), "--client-ca", str(certs / "ca.pem")],
    )
    assert url.startswith("https://")
    token = scratch.token(data_dir, "operator", "ops")
    ca = str(certs / "ca.pem")

    agora = Agora(url, token, ca=ca, cert=str(certs / "agent-sdk.pem"), key=str(certs / "agent-sdk.key"))
    framework = agora.register_framework("sdk-tls")
    framework.teardown()

    # Without the client certificate the server ends the handshake; without the CA the
    # server's certificate is not trusted. Neither gets an HTTP answer.
    with pytest.raises((httpx.TransportError, Unreachable)):
        Agora(url, token, ca=ca).register_framework("no-certificate")
    with pytest.raises(Unreachable) as untrusted:
        Agora(url, token).register_framework("no-ca")
    assert "CERTIFICATE_VERIFY_FAILED" in str(untrusted.value)
