"""``jupyter-samp hub`` takes a ``samp_hub`` command line unchanged."""

from __future__ import annotations

from pathlib import Path

from jupyter_samp.cli import build_parser
from jupyter_samp.compat import SAMPIntegratedClient
from jupyter_samp.testing import SampEnvironment
from jupyter_samp.testing.peers import jupyter_samp_hub

SAMP_HUB_LINE = ["-k", "s3cret", "-d", "127.0.0.1", "-p", "0", "-w", "-P", "5",
                 "-t", "0", "-c", "0", "-L", "INFO", "-l", "mylabel"]


def test_every_samp_hub_option_parses() -> None:
    args = build_parser().parse_args(
        ["hub", *SAMP_HUB_LINE, "-f", "/tmp/lock", "-O", "/tmp/log", "-m"]
    )
    assert (args.secret, args.addr, args.port, args.lockfile) == ("s3cret", "127.0.0.1", 0,
                                                                  "/tmp/lock")
    assert (args.web_profile, args.pool_size, args.timeout, args.client_timeout) == (
        False, 5, 0, 0)
    assert (args.log_level, args.log_output, args.label, args.mode) == (
        "info", "/tmp/log", "mylabel", "multiple")


def test_long_forms_and_defaults() -> None:
    args = build_parser().parse_args(["hub", "--no-web-profile", "--multi", "--secret", "x",
                                      "--pool-size", "3", "--log-output", "f"])
    assert (args.web_profile, args.mode, args.secret, args.pool_size) == (False, "multiple",
                                                                          "x", 3)
    defaults = build_parser().parse_args(["hub"])
    assert (defaults.mode, defaults.web_profile, defaults.secret) == ("single", True, None)


async def test_a_samp_hub_command_line_runs(samp_env: SampEnvironment, tmp_path: Path) -> None:
    log = tmp_path / "hub.log"
    line = [*SAMP_HUB_LINE, "-f", str(samp_env.lockfile), "-O", str(log)]
    async with jupyter_samp_hub(samp_env.lockfile, extra_args=line) as running:
        assert running.info["samp.secret"] == "s3cret"
        assert running.info["hub.label"] == "mylabel"
        client = SAMPIntegratedClient(name="cli-check")
        client.connect(hub_params=running.info)
        try:
            assert client.get_metadata(client.get_public_id() or "")["samp.name"] == "cli-check"
        finally:
            client.disconnect()
    assert "hub listening at" in log.read_text()
