"""``mgd serve``'s own options: what reaches vLLM's environment, and usage errors before vLLM starts.

No vLLM here: ``build_command`` only builds the command line and environment
(the server itself is tested in tests/vllm).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lsp_bridge.cpus import available_cpus, format_cpus
from mgd.cli.commands.serve import build_command, engine_cpus, split_own_args
from mgd.cli.main import build_parser
from monitors.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
CPUS = available_cpus()


def parsed(*argv: str):
    args = build_parser().parse_args(["serve", "MODEL", *argv])
    return args, split_own_args(args)


def test_own_options_after_the_model_are_mgds(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MGD_ALLOWED_WORKSPACES", raising=False)
    monkeypatch.delenv("VLLM_RAY_EXTRA_ENV_VAR_PREFIXES_TO_COPY", raising=False)
    last = max(CPUS)
    args, rest = parsed("--port", "8001", "--allow-workspace", str(tmp_path), f"--lsp-cpus={last}",
                        "--provisional", "--tensor-parallel-size", "2")
    assert rest == ["--port", "8001", "--tensor-parallel-size", "2"]
    if len(CPUS) < 2:
        pytest.skip("a CPU split needs 2 CPUs")
    cmd, env = build_command(args, rest)
    assert cmd[-12:-8] == rest
    assert cmd[-8:-6] == ["--additional-config", json.dumps({"mgd": {"lsp_cpus": str(last), "provisional": True}})]
    assert cmd[-6:-4] == ["--logits-processors", "mgd.vllm.plugin:MgdExplicitProcessor"]
    # each response carries its request's counters (mgd.vllm.http through the worker extension)
    assert cmd[-4:] == ["--worker-extension-cls", "mgd.vllm.rpc.MgdWorkerExtension",
                        "--middleware", "mgd.vllm.http.MgdResponseMiddleware"]
    assert env["MGD_ALLOWED_WORKSPACES"] == str(tmp_path.resolve())
    assert env["VLLM_RAY_EXTRA_ENV_VAR_PREFIXES_TO_COPY"] == "MGD_"  # Ray workers get the settings


def test_ray_prefixes_are_extended_not_replaced(monkeypatch) -> None:
    monkeypatch.setenv("VLLM_RAY_EXTRA_ENV_VAR_PREFIXES_TO_COPY", "MY_")
    args, rest = parsed()
    _, env = build_command(args, rest)
    assert env["VLLM_RAY_EXTRA_ENV_VAR_PREFIXES_TO_COPY"] == "MY_,MGD_"


def test_retired_environment_settings_are_refused(monkeypatch) -> None:
    monkeypatch.setenv("MGD_LSP_SERVER", "pyright")
    args, rest = parsed()
    with pytest.raises(ConfigError, match="MGD_LSP_SERVER .now 'lsp_server'"):
        build_command(args, rest)


def test_callers_additional_config_is_merged(monkeypatch) -> None:
    monkeypatch.delenv("MGD_ALLOWED_WORKSPACES", raising=False)
    args, rest = parsed("--lsp-server", "jedi", "--additional-config", '{"x": 1}')
    cmd, _ = build_command(args, rest)
    i = cmd.index("--additional-config")
    assert json.loads(cmd[i + 1]) == {"x": 1, "mgd": {"lsp_server": "jedi"}}
    assert cmd.count("--additional-config") == 1


@pytest.mark.parametrize("bad", ["x", "99999", format_cpus(CPUS)])
def test_bad_cpu_lists_are_usage_errors(bad: str) -> None:
    args, rest = parsed("--lsp-cpus", bad)
    with pytest.raises(ConfigError, match="--lsp-cpus"):
        build_command(args, rest)


def test_engine_keeps_the_other_cpus() -> None:
    assert engine_cpus(frozenset({1}), frozenset({0, 1, 2})) == {0, 2}
    with pytest.raises(ConfigError, match="not available"):
        engine_cpus(frozenset({5}), frozenset({0, 1}))
    with pytest.raises(ConfigError, match="leaves no CPU"):
        engine_cpus(frozenset({0, 1}), frozenset({0, 1}))


def test_usage_error_exits_2_without_importing_vllm() -> None:
    code = ("import sys; from mgd.cli.main import main; rc = main(['serve', 'M', '--lsp-cpus', 'x']);"
            "print(rc, 'vllm' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.split() == ["2", "False", "False"], out.stderr
    assert "--lsp-cpus" in out.stderr


def test_a_callers_worker_extension_wins(monkeypatch) -> None:
    monkeypatch.delenv("MGD_ALLOWED_WORKSPACES", raising=False)
    args, rest = parsed("--worker-extension-cls", "my.Ext")
    cmd, _ = build_command(args, rest)
    assert cmd.count("--worker-extension-cls") == 1 and "my.Ext" in cmd
    assert "mgd.vllm.http.MgdResponseMiddleware" in cmd


def test_a_request_with_its_own_tag_keeps_it_and_its_counters() -> None:
    """The response middleware tags mgd requests to read their counters; a client that
    tags its own requests (``mgd bench --engine remote``) reads them itself over
    /collective_rpc (reading consumes them): its tag and body stay as sent."""
    import json

    from mgd.vllm.core import TAG_KEY
    from mgd.vllm.http import _tag

    mgd = json.dumps({"workspace": "/w", "file": "a.py"})
    own = json.dumps({"prompt": "x.", "vllm_xargs": {"mgd": mgd, TAG_KEY: "run-1"}}).encode()
    body, tag, warm = _tag(own)
    assert body == own and tag is None
    assert warm is not None and warm["workspace"] == "/w" and warm["prompt"] == "x."
    fresh = json.dumps({"prompt": "x.", "vllm_xargs": {"mgd": mgd}}).encode()
    body, tag, _ = _tag(fresh)
    assert tag is not None and json.loads(body)["vllm_xargs"][TAG_KEY] == tag
    assert _tag(b'{"prompt": "x."}')[1] is None


def test_fim_settings_reach_the_middleware_through_the_environment(monkeypatch) -> None:
    """``--fim``/``--fim-template`` (before or after MODEL) become the middleware's environment;
    every family batch generation takes is taken."""
    from mgd.engines.fim import TEMPLATES

    monkeypatch.delenv("MGD_ALLOWED_WORKSPACES", raising=False)
    args, rest = parsed("--fim", "off", "--fim-template=starcoder-spm", "--port", "8001")
    assert rest == ["--port", "8001"]
    cmd, env = build_command(args, rest)
    assert (env["MGD_SERVE_FIM"], env["MGD_SERVE_FIM_TEMPLATE"]) == ("off", "starcoder-spm")
    assert "--fim" not in cmd and "--fim-template=starcoder-spm" not in cmd
    for name in ["auto", *TEMPLATES]:
        args = build_parser().parse_args(["serve", "--fim", "on", "--fim-template", name, "M"])
        _, env = build_command(args, split_own_args(args))
        assert (env["MGD_SERVE_FIM"], env["MGD_SERVE_FIM_TEMPLATE"]) == ("on", name)
    args, rest = parsed()
    _, env = build_command(args, rest)
    assert (env["MGD_SERVE_FIM"], env["MGD_SERVE_FIM_TEMPLATE"]) == ("auto", "auto")


@pytest.mark.parametrize(("argv", "reason"), [
    (["--fim", "maybe"], "--fim maybe: one of auto, on, off"),
    (["--fim-template", "gpt"], "--fim-template gpt: auto or one of starcoder"),
])
def test_bad_fim_settings_are_usage_errors(argv, reason) -> None:
    from mgd.cli.errors import UsageError

    args, rest = parsed(*argv)
    with pytest.raises(UsageError, match=reason):
        build_command(args, rest)
