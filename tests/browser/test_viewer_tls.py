"""The viewer served over the daemon's own TLS, in real headless Chromium: the page over
https, its match stream over wss from the worker that runs the match."""
from __future__ import annotations

import pytest

from gametap.client import Client
from gametap.testing import start_daemon, wait_until
from gametap.v1 import match_pb2 as mpb
from tests.certs import issue, make_ca

pytestmark = [pytest.mark.game, pytest.mark.browser]


def test_the_viewer_over_https_and_wss(browser, tmp_path):
    ca = make_ca(tmp_path, "ca")
    server = issue(ca, tmp_path, "daemon")
    config = tmp_path / "gametap.toml"
    config.write_text(f'[server]\ntls_cert = "{server.cert}"\ntls_key = "{server.key}"\n'
                      '[default_match]\nenabled = false\n')
    daemon = start_daemon(tmp_path / "state", "--config", str(config))
    context = browser.new_context(ignore_https_errors=True)  # Chromium does not know the test's CA
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        with Client(daemon.grpc, tls=str(ca.cert)) as c:
            match = c.create_match(mpb.MatchConfig(clock=mpb.REALTIME, bots=[mpb.BotConfig(name="Grism")]))
            wait_until(lambda: c.get_match(match.id).frame > 20, 60, "the match to run")
        assert match.viewer_url.startswith(f"https://{daemon.http}/")
        page.goto(match.viewer_url)
        page.wait_for_function("() => window.gametap && window.gametap.world.hasState", timeout=20000)
        url = page.evaluate("() => window.gametap.client.ws.url")
        assert url.startswith(f"wss://127.0.0.1:{match.placement.http_port}/ws")
        first = page.evaluate("() => window.gametap.world.frame")
        page.wait_for_function(f"() => window.gametap.world.frame > {first}", timeout=10000)
        assert page.inner_text("#connection") == "live"
        assert errors == []
    finally:
        context.close()
        daemon.stop()
