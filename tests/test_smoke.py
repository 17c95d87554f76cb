"""`ollama-rpm smoke`: the tiny model, ggml's CPU variant choice, the two engines.

What the fixture covers: its RPMs install into a scratch root, its binary runs
at /usr/bin/ollama in a private mount namespace and finds /usr/lib64/ollama,
serves /api/version, imports the generated GGUF through `ollama create`
(blob upload + /api/create, GGUF magic checked) and answers /api/generate after
running the packaged llama-server, whose ggml loader picks a CPU variant that
the dynamic loader's trace reveals. The fixture does not run a model: its
tokens are synthetic. Loading the tiny model in a real llama-server is
covered by the real-upstream suite.
"""

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import STANDIN_MACROS, run_cli
from ollama_rpm.check import cpu_select, smoke, tinymodel
from ollama_rpm.specgen import cpu_levels

VERSION = "0.32.15"
CAN_BUILD = all(shutil.which(t) for t in ("rpmbuild", "rpm", "unshare"))

# Flags of real CPUs (/proc/cpuinfo), trimmed to what matters here.
AVX2_EPYC = "fpu sse sse2 ssse3 fma cx16 sse4_1 sse4_2 popcnt avx f16c bmi1 avx2 bmi2"
AVX512_EPYC = (AVX2_EPYC + " avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 avx512vbmi"
               " avx512_vnni avx512_vbmi2")
OLD_X86 = "fpu sse sse2"


# ---- the tiny model ------------------------------------------------------------

def test_tiny_gguf_reads_back_as_a_small_llama_with_a_byte_free_vocabulary(tmp_path):
    gguf = pytest.importorskip("gguf")
    path = tinymodel.write_tiny_gguf(tmp_path / "tiny.gguf")
    reader = gguf.GGUFReader(path)

    def field(key):
        f = reader.fields[key]
        return [bytes(f.parts[i]).decode() if f.types[-1] == gguf.GGUFValueType.STRING else f.parts[i][0]
                for i in f.data]

    assert field("general.architecture") == ["llama"]
    assert field("llama.block_count") == [2] and field("llama.embedding_length") == [64]
    assert field("tokenizer.ggml.model") == ["llama"]
    tokens = field("tokenizer.ggml.tokens")
    types = field("tokenizer.ggml.token_type")
    assert len(tokens) == len(types) == len(set(tokens)) > 100
    assert int(gguf.TokenType.BYTE) not in types and not any(re.fullmatch(r"<0x[0-9A-F]{2}>", t) for t in tokens)
    # Every character of the prompt (spaces as SentencePiece's marker) is a token: no byte fallback needed.
    from ollama_rpm.check.smoke_session import PROMPT
    assert set(PROMPT.replace(" ", tinymodel.SPACE)) <= set(tokens)
    shapes = {t.name: list(t.shape) for t in reader.tensors}
    assert shapes["token_embd.weight"] == [64, len(tokens)]              # ggml order: ne0 = embedding
    assert shapes["blk.1.attn_k.weight"] == [64, 32]                     # 2 KV heads of 16
    assert len(shapes) == 3 + 2 * 9
    output = next(t for t in reader.tensors if t.name == "output.weight").data
    assert not output[:3].any() and output[3:].any()           # specials never sampled greedily
    assert path.stat().st_mode & 0o777 == 0o644                # the service account reads it in mock
    # Deterministic: the same seed gives the same bytes.
    again = tinymodel.write_tiny_gguf(tmp_path / "again.gguf")
    assert again.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("matrices, tensor_type", [("f16", "F16"), ("q4_0", "Q4_0")])
def test_a_bigger_shape_pads_the_vocabulary_and_stores_its_matrices_as_asked(tmp_path, matrices, tensor_type):
    """The benchmark's shape, scaled down to a test's size: the same writer, a vocabulary
    padded without byte tokens, matrices F16 or Q4_0, norms F32."""
    gguf = pytest.importorskip("gguf")
    shape = tinymodel.TinyShape(layers=3, dim=64, heads=4, kv_heads=2, ffn=96, vocab=1500, matrices=matrices)
    reader = gguf.GGUFReader(tinymodel.write_tiny_gguf(tmp_path / "bench.gguf", shape))
    tokens = [bytes(reader.fields["tokenizer.ggml.tokens"].parts[i]).decode()
              for i in reader.fields["tokenizer.ggml.tokens"].data]
    assert len(tokens) == len(set(tokens)) == 1500
    assert not any(re.fullmatch(r"<0x[0-9A-F]{2}>", t) for t in tokens)
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert types["blk.2.ffn_down.weight"] == types["token_embd.weight"] == types["output.weight"] == tensor_type
    assert types["blk.2.ffn_norm.weight"] == "F32"
    assert {list(t.shape) == [64, 1500] for t in reader.tensors if t.name == "output.weight"} == {True}


def test_the_bench_shape_is_compute_sized_and_smoke_offers_it():
    bench = tinymodel.SHAPES["bench"]
    matrices = bench.layers * (2 * bench.dim * bench.dim + 2 * bench.dim * bench.dim * bench.kv_heads // bench.heads
                               + 3 * bench.dim * bench.ffn) + 2 * bench.vocab * bench.dim
    assert matrices > 150_000_000 and bench.matrices == "q4_0" and bench.vocab == 32000
    assert tinymodel.BENCH_SHAPE.matrices == "f16" and tinymodel.SHAPES["tiny"] == tinymodel.TinyShape()
    from ollama_rpm.cli import build_parser
    args = build_parser().parse_args(["smoke", "--model-shape", "bench", "x.rpm"])
    assert args.model_shape == "bench"
    assert build_parser().parse_args(["smoke", "x.rpm"]).model_shape == "tiny"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["smoke", "--model-shape", "huge", "x.rpm"])


# ---- ggml's CPU variant choice ---------------------------------------------------

def test_scores_match_ggml_on_real_cpus():
    flags = cpu_select.cpu_flags(f"processor\t: 0\nflags\t\t: {AVX2_EPYC}\n")
    scores = {v: cpu_select.score(v, flags) for v in cpu_levels.X86_VARIANT_FEATURES}
    assert (scores["haswell"], scores["piledriver"], scores["ivybridge"], scores["sandybridge"],
            scores["sse42"], scores["x64"]) == (64, 24, 23, 21, 5, 1)
    assert scores["skylakex"] == scores["alderlake"] == scores["zen4"] == 0
    assert cpu_select.best_variant(list(scores), flags) == ("haswell", 64)

    flags = cpu_select.cpu_flags(f"flags\t: {AVX512_EPYC}\n")
    assert cpu_select.best_variant(list(cpu_levels.X86_VARIANT_FEATURES), flags) == ("zen4", 1984)
    assert cpu_select.score("cooperlake", flags) == 1728 and cpu_select.score("sapphirerapids", flags) == 0
    # Only what is installed counts: without the v4 package haswell is right.
    assert cpu_select.best_variant(["x64", "sse42", "haswell"], flags) == ("haswell", 64)
    assert cpu_select.best_variant(["haswell"], frozenset(OLD_X86.split())) == (None, 0)


def ld_trace(chosen, candidates=("haswell", "skylakex", "x64"), unload=True, dirs=2):
    """An LD_DEBUG=files trace of ggml scoring candidates in `dirs` search directories, then keeping one."""
    lines = ["     41:\tfile=libggml-base.so.0 [0];  needed by /usr/lib64/ollama/llama-server [0]"]
    for _ in range(dirs):
        for variant in candidates:
            lib = f"/usr/lib64/ollama/libggml-cpu-{variant}.so"
            lines += [f"     41:\tfile={lib} [0];  dynamically loaded by /usr/lib64/ollama/libggml.so.0 [0]",
                      f"     41:\tfile={lib} [0];  generating link map",
                      f"     41:\tcalling init: {lib}"]
            if unload:
                lines += [f"     41:\tcalling fini: {lib} [0]", f"     41:\tfile={lib} [0];  destroying link map"]
    if unload:
        lines.append(f"     41:\tfile=/usr/lib64/ollama/libggml-cpu-{chosen}.so [0];  dynamically loaded by "
                     "/usr/lib64/ollama/libggml.so.0 [0]")
    return "\n".join(lines) + "\n"


def _events(trace):
    from ollama_rpm.check.smoke_session import _LD_EVENT
    return [["load" if what.startswith("dynamically") else "unload", lib] for lib, what in _LD_EVENT.findall(trace)]


def _layout(variants=("x64", "sse42", "haswell", "skylakex"), gpu=None):
    main = smoke.Package("ollama.rpm", "ollama", VERSION, "x86_64", ["/usr/bin/ollama"])
    return smoke.Layout(main, "/usr/lib64/ollama", sorted(variants), gpu or {})


def _result(chosen, **extra):
    return dict({"steps": ["server", "create", "generate"], "version": VERSION, "user": "ollama",
                 "generate": {"response": "a b", "eval_count": 2}, "ld_traces": {"41": _events(ld_trace(chosen))}},
                **extra)


def _judged(result, layout=None, cpu=AVX2_EPYC):
    report = smoke.Report("rootfs", ["ollama"])
    smoke.judge(report, layout or _layout(), result, frozenset(cpu.split()), "x86_64")
    return {c.name: (c.status, c.detail) for c in report.checks}, report


def test_the_variant_ggml_kept_is_the_one_still_loaded_or_the_one_it_logged():
    assert smoke.loaded_cpu_variants(_result("haswell")) == ["haswell"]
    assert smoke.loaded_cpu_variants(_result("x64")) == ["x64"]
    one_dir = _result("skylakex", ld_traces={"7": _events(ld_trace("skylakex", dirs=1))})
    assert smoke.loaded_cpu_variants(one_dir) == ["skylakex"]
    # Candidates never unloaded (NODELETE): all stay loaded, the trace cannot tell.
    nodelete = _result("x64", ld_traces={"7": _events(ld_trace("x64", unload=False, dirs=1))})
    assert smoke.loaded_cpu_variants(nodelete) == []
    logged = dict(nodelete, server_log_backends=[["CPU", "/usr/lib64/ollama/libggml-cpu-skylakex.so"],
                                                 ["Vulkan", "/usr/lib64/ollama/vulkan/libggml-vulkan.so"]])
    assert smoke.loaded_cpu_variants(logged) == ["skylakex"]
    checks, report = _judged(_result("haswell"))
    assert checks["cpu variant"][0] == "ok" and report.ok


def test_x64_on_an_avx2_machine_fails():
    checks, report = _judged(_result("x64"))
    assert checks["cpu variant"] == ("FAIL", "loaded x64; this CPU can run haswell (score 64) of the "
                                             "installed haswell, skylakex, sse42, x64")
    assert not report.ok


def test_no_evidence_of_a_cpu_variant_fails():
    checks, _ = _judged(_result("haswell", ld_traces={}))
    assert checks["cpu variant"][0] == "FAIL" and "could not tell" in checks["cpu variant"][1]


def test_a_gpu_backend_that_does_not_load_fails_and_one_that_loads_passes():
    lib = "/usr/lib64/ollama/vulkan/libggml-vulkan.so"
    layout = _layout(gpu={"ollama-ggml-vulkan": lib})
    bad = _result("haswell", gpu_probes={lib: {"ok": False, "error": "libvulkan.so.1: cannot open shared object file"}})
    checks, report = _judged(bad, layout)
    assert checks["gpu ollama-ggml-vulkan"] == ("FAIL", f"{lib} does not load: libvulkan.so.1: cannot open "
                                                        "shared object file")
    assert not report.ok
    checks, report = _judged(_result("haswell", gpu_probes={lib: {"ok": True, "error": ""}}), layout)
    assert checks["gpu ollama-ggml-vulkan"][0] == "ok" and report.ok


def test_a_cuda_backend_without_the_driver_is_skipped_but_one_missing_its_runtime_fails():
    """No libcuda.so.1 (a GPU-less host; the package does not require the driver):
    ggml skips the backend, as for a user without a driver. A missing CUDA runtime
    (which the package does require) is still a failure."""
    lib = "/usr/lib64/ollama/cuda_v13/libggml-cuda.so"
    layout = _layout(gpu={"ollama-ggml-cuda": lib})
    no_driver = "libcuda.so.1: cannot open shared object file: No such file or directory"
    for result in (_result("haswell", gpu_probes={lib: {"ok": False, "error": no_driver}}),
                   _result("haswell", gpu_probes={lib: {"ok": True, "error": ""}},
                           server_log_load_errors=[[lib, no_driver]])):
        checks, report = _judged(result, layout)
        assert checks["gpu ollama-ggml-cuda"] == (
            "skip", f"{lib} is not loaded: libcuda.so.1 (the GPU driver's, not packaged) is absent, "
                    "so ggml skips this backend")
        assert report.ok
    no_runtime = "libcudart.so.13: cannot open shared object file: No such file or directory"
    checks, report = _judged(_result("haswell", gpu_probes={lib: {"ok": False, "error": no_runtime}}), layout)
    assert checks["gpu ollama-ggml-cuda"] == ("FAIL", f"{lib} does not load: {no_runtime}")
    assert not report.ok


def test_the_session_reads_the_server_log_and_the_loader_traces(tmp_path):
    from ollama_rpm.check.smoke_session import Session
    session = Session({"workdir": str(tmp_path), "ollama": "/usr/bin/ollama", "libdir": "/usr/lib64/ollama"})
    session.log_path = tmp_path / "server.log"
    lib = "/usr/lib64/ollama/vulkan/libggml-vulkan.so"
    session.log_path.write_text(
        'time=2026-11-30T04:00:00Z level=INFO msg="load_backend: loaded CPU backend from '
        '/usr/lib64/ollama/libggml-cpu-zen4.so"\n'
        f"load_backend: failed to load {lib}: libvulkan.so.1: cannot open shared object file\n")
    session.trace.mkdir()
    (session.trace / "ld.41").write_text(ld_trace("haswell"))
    (session.trace / "ld.40").write_text("     40:\tfile=libc.so.6 [0];  needed by /usr/bin/ollama [0]\n")
    session.collect()
    result = dict(session.result, steps=["server", "create", "generate"], version=VERSION,
                  generate={"response": "x", "eval_count": 1}, gpu_probes={lib: {"ok": True, "error": ""}})
    assert list(result["ld_traces"]) == ["41"] and len(result["ld_traces"]["41"]) == 3 * 2 * 2 + 1
    assert result["ld_traces"]["41"][-1] == ["load", "/usr/lib64/ollama/libggml-cpu-haswell.so"]
    trace_only = {k: v for k, v in result.items() if k != "server_log_backends"}
    assert smoke.loaded_cpu_variants(trace_only) == ["haswell"]
    assert smoke.loaded_cpu_variants(result) == ["zen4"]              # the log line wins over the trace
    checks, _ = _judged(result, _layout(variants=("x64", "haswell", "zen4"), gpu={"ollama-ggml-vulkan": lib}),
                        cpu=AVX512_EPYC)
    assert checks["cpu variant"][0] == "ok"
    assert checks["gpu ollama-ggml-vulkan"] == ("FAIL", f"the server failed to load {lib}: libvulkan.so.1: "
                                                        "cannot open shared object file")


def test_a_failed_create_is_reported_without_the_progress_display(tmp_path):
    """Real `ollama create` output: progress with terminal escapes, then the error (v0.32.15's text)."""
    from ollama_rpm.check.smoke_session import Session
    cli = tmp_path / "ollama"
    cli.write_text("#!/bin/sh\nprintf '\\033[?2026h\\033[?25l\\033[1Ggathering model components \\033[K\\n'\n"
                   "printf 'parsing GGUF \\033[K\\033[?25h\\033[?2026l\\n'\n"
                   "echo 'Error: failed to validate GGUF with llama-quantize without compatibility patches' >&2\n"
                   "exit 1\n")
    cli.chmod(0o755)
    session = Session({"workdir": str(tmp_path / "work"), "ollama": str(cli), "model": str(tmp_path / "m.gguf")})
    for path in (session.home, session.trace):                  # as start() leaves them
        path.mkdir(parents=True)
    assert session.create() is False
    assert session.result["create"]["output"] == [
        "gathering model components ", "parsing GGUF ",
        "Error: failed to validate GGUF with llama-quantize without compatibility patches"]
    assert session.result["errors"] == ["ollama create failed (1): Error: failed to validate GGUF with "
                                        "llama-quantize without compatibility patches"]


def test_no_tokens_and_a_wrong_version_fail():
    checks, _ = _judged(_result("haswell", generate={"response": "", "eval_count": 0}))
    assert checks["generate"][0] == "FAIL"
    checks, _ = _judged(_result("haswell", version="0.0.0"))
    assert checks["server"][0] == "FAIL" and "the package is version 0.32.15" in checks["server"][1]


def test_bad_arguments_are_one_line_errors(tmp_path):
    proc = run_cli("smoke", tmp_path / "missing")
    assert proc.returncode == 2 and proc.stderr.strip() == f"ollama-rpm: {tmp_path / 'missing'}: no such file or directory"
    (tmp_path / "empty").mkdir()
    proc = run_cli("smoke", "--engine", "rootfs", tmp_path / "empty")
    assert proc.returncode == 2 and "no binary RPMs found" in proc.stderr
    proc = run_cli("smoke", "--engine", "rootfs", "--chroot", "fedora-44-x86_64", tmp_path / "empty")
    assert proc.returncode == 2 and "--chroot: applies to --engine mock only" in proc.stderr


# ---- a stub package: the failure paths of a real install ---------------------------

STUB_SPEC = """\
%global debug_package %{{nil}}
Name:           ollama
Version:        {version}
Release:        1
Summary:        Stub server for the smoke tests
License:        MIT
Source0:        ollama

%description
Stub.

%install
install -D -m 0755 %{{SOURCE0}} %{{buildroot}}/usr/bin/ollama

%files
/usr/bin/ollama
"""


def stub_rpm(where, script):
    where = Path(where)
    src = where / "src"
    src.mkdir(parents=True)
    (src / "ollama").write_text("#!/bin/sh\n" + script)
    (src / "ollama.spec").write_text(STUB_SPEC.format(version=VERSION))
    proc = subprocess.run(["rpmbuild", "--nodeps", "--load", str(STANDIN_MACROS), "--define", f"_topdir {where / 'top'}",
                           "--define", f"_sourcedir {src}", "-bb", str(src / "ollama.spec")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return where / "top" / "RPMS"


@pytest.mark.slow  # rpmbuild
@pytest.mark.skipif(not CAN_BUILD, reason="needs rpmbuild, rpm and unshare")
def test_a_server_that_never_answers_fails_in_bounded_time_and_is_killed(tmp_path):
    pidfile = tmp_path / "server.pid"
    had_binary = os.path.lexists("/usr/bin/ollama")
    rpms = stub_rpm(tmp_path / "stub", f'[ "$1" = serve ] && echo $$ > {pidfile} && exec sleep 600\nexit 1\n')
    start = time.monotonic()
    proc = run_cli("smoke", "--engine", "rootfs", "--timeout", "10", rpms)   # room for a loaded machine
    elapsed = time.monotonic() - start
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert re.search(r"server\s+FAIL\s+ollama serve did not answer /api/version on 127\.0\.0\.1:\d+ within 10", proc.stdout)
    assert elapsed < 90, elapsed
    pid = int(pidfile.read_text())
    assert not Path(f"/proc/{pid}").exists(), "the server outlived the smoke test"
    assert os.path.lexists("/usr/bin/ollama") == had_binary       # the bind stayed in the namespace


@pytest.mark.slow  # rpmbuild
@pytest.mark.skipif(not CAN_BUILD, reason="needs rpmbuild, rpm and unshare")
def test_a_server_that_exits_fails_with_its_status_in_json(tmp_path):
    rpms = stub_rpm(tmp_path / "stub", "echo 'Error: listen tcp: address already in use' >&2\nexit 3\n")
    proc = run_cli("smoke", "--engine", "rootfs", "--json", rpms)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is False
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["install"]["status"] == "ok"
    assert checks["server"] == {"name": "server", "status": "FAIL",
                                "detail": "ollama serve exited with 3 before answering /api/version"}
    assert "Error: listen tcp: address already in use" in report["server_log_tail"]
    assert checks["cpu variant"]["status"] == "skip"


@pytest.mark.slow  # rpmbuild
@pytest.mark.skipif(not CAN_BUILD or os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root (to become nobody with setpriv), rpmbuild, rpm and unshare")
def test_without_root_the_namespace_maps_the_caller_to_root(tmp_path):
    """As an unprivileged user: rpm --root installs without chown, unshare adds --map-root-user."""
    rpms = stub_rpm(tmp_path / "stub", "echo \"uid=$(id -u)\" >&2\nexit 3\n")
    shared = Path(tempfile.mkdtemp(prefix="smoke-nobody-"))
    try:
        rpm = shutil.copy2(next(rpms.rglob("*.rpm")), shared)
        shared.chmod(0o755)
        os.chmod(rpm, 0o644)
        env = dict(os.environ, PYTHONPATH=str(Path(smoke.__file__).parents[2]), HOME=str(shared), TMPDIR=str(shared))
        shared.chmod(0o777)
        proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
                               "ollama_rpm", "smoke", "--engine", "rootfs", "--json", rpm],
                              capture_output=True, text=True, env=env, cwd=shared, timeout=120)
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    report = json.loads(proc.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["install"]["status"] == "ok", checks
    assert checks["server"]["detail"] == "ollama serve exited with 3 before answering /api/version", checks
    assert "uid=0" in report["server_log_tail"]                 # the binary ran at /usr/bin/ollama as mapped root
    assert report["user"] == f"{pwd.getpwuid(65534).pw_name} (root in a user namespace)"


# ---- the mock engine, at mock's process boundary -----------------------------------

FAKE_MOCK = r'''#!{python}
"""A stand-in for mock: records argv; --copyin/--copyout against a directory as the chroot."""
import json, os, shutil, sys
from pathlib import Path

state = Path(os.environ["FAKE_MOCK_STATE"])
argv = sys.argv[1:]
with open(state / "argv.jsonl", "a") as out:
    out.write(json.dumps(argv) + "\n")
plan = json.loads((state / "plan.json").read_text())
chroot = state / "chroot"
action = argv[2]
if action == "--install" and plan.get("install_exit"):
    print("Error: Unable to find a match: libvulkan", file=sys.stderr)
    sys.exit(plan["install_exit"])
if action == "--copyin":
    shutil.copytree(argv[3], chroot / argv[4].lstrip("/"))
if action == "--copyout":
    Path(argv[4]).write_text(json.dumps(plan["result"]))
sys.exit(0)
'''


def fake_mock(tmp_path, plan):
    bindir, state = tmp_path / "fakebin", tmp_path / "state"
    bindir.mkdir()
    state.mkdir()
    (bindir / "mock").write_text(FAKE_MOCK.format(python=sys.executable))
    (bindir / "mock").chmod(0o755)
    (state / "plan.json").write_text(json.dumps(plan))
    return {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "FAKE_MOCK_STATE": str(state)}, state


@pytest.mark.slow  # rpmbuild
@pytest.mark.skipif(not CAN_BUILD, reason="needs rpmbuild")
def test_mock_engine_installs_runs_the_session_as_the_service_user_and_cleans(tmp_path):
    rpms = stub_rpm(tmp_path / "stub", "exit 0\n")
    env, state = fake_mock(tmp_path, {"result": _result("haswell", address="127.0.0.1:4242")})
    proc = run_cli("smoke", "--chroot", "fedora-44-x86_64", "--json", rpms, env=env)
    argv = [json.loads(line) for line in (state / "argv.jsonl").read_text().splitlines()]
    rpm = str(next(Path(rpms).rglob("*.rpm")).resolve())
    work = "/var/tmp/ollama-smoke"
    assert [a[:3] for a in argv] == [["-r", "fedora-44-x86_64", a] for a in
                                     ("--init", "--install", "--copyin", "--chroot", "--copyout", "--clean")]
    assert argv[1][3:] == ["python3", rpm]
    assert argv[2][4] == work and argv[3][3:] == ["--", "python3", f"{work}/smoke_session.py", f"{work}/plan.json"]
    staged = state / "chroot" / work.lstrip("/")
    plan = json.loads((staged / "plan.json").read_text())
    assert plan["user"] == "ollama" and plan["ollama"] == "/usr/bin/ollama" and "binds" not in plan
    assert (staged / "tiny.gguf").read_bytes()[:4] == b"GGUF"
    assert (staged / "smoke_session.py").read_text().startswith('"""The part of `ollama-rpm smoke`')
    report = json.loads(proc.stdout)
    assert report["engine"] == "mock" and report["user"] == "ollama"
    # The stub package ships no CPU variant, so ggml's haswell cannot be right.
    assert proc.returncode == 1 and report["cpu"]["installed_variants"] == []


@pytest.mark.slow  # rpmbuild
@pytest.mark.skipif(not CAN_BUILD, reason="needs rpmbuild")
def test_mock_install_failure_is_a_failed_check_and_the_chroot_is_still_cleaned(tmp_path):
    rpms = stub_rpm(tmp_path / "stub", "exit 0\n")
    env, state = fake_mock(tmp_path, {"install_exit": 30})
    proc = run_cli("smoke", "--engine", "mock", rpms, env=env)
    assert proc.returncode == 1
    assert re.search(r"install\s+FAIL\s+mock --install exited 30 \(package manager error \(see root.log\)\): "
                     r"Error: Unable to find a match: libvulkan", proc.stdout)
    argv = [json.loads(line) for line in (state / "argv.jsonl").read_text().splitlines()]
    assert [a[2] for a in argv] == ["--init", "--install", "--clean"]


@pytest.mark.slow  # rpmbuild
@pytest.mark.skipif(not CAN_BUILD, reason="needs rpmbuild")
def test_mock_engine_without_mock_is_a_tool_error(tmp_path):
    rpms = stub_rpm(tmp_path / "stub", "exit 0\n")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "rpm").symlink_to(shutil.which("rpm"))
    proc = run_cli("smoke", "--engine", "mock", rpms, env={"PATH": str(bindir)})
    assert proc.returncode == 3
    assert proc.stderr.strip() == ("ollama-rpm: --engine mock needs mock on PATH (dnf install mock); "
                                   "or use --engine rootfs")


# ---- the fixture's RPMs, installed and served ---------------------------------------

# fixture_rpms: the session-wide fixture build (conftest.py), shared with test_e2e.

@pytest.mark.slow
@pytest.mark.skipif(not all(shutil.which(t) for t in ("rpmbuild", "go", "cmake", "unshare")),
                    reason="needs rpmbuild, go, cmake and unshare")
def test_fixture_rpms_serve_a_prompt_with_the_best_cpu_variant(fixture_rpms):
    had_libdir = Path("/usr/lib64/ollama").exists()
    proc = run_cli("smoke", "--engine", "rootfs", "--json", fixture_rpms["results"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert all(c["status"] == "ok" for c in checks.values()), checks
    assert re.fullmatch(r"ollama serve answered /api/version \(0\.32\.15\) on 127\.0\.0\.1:\d+ after [\d.]+s as \w+",
                        checks["server"]["detail"])
    assert checks["generate"]["detail"].startswith("8 tokens")
    # ggml's choice, seen in the loader trace, is the best this CPU runs of what the fixture ships.
    variants = list(fixture_rpms["cfg"]["cpu_variants"]["x86_64"])
    expected, _ = cpu_select.best_variant(variants, cpu_select.read_cpu_flags())
    assert report["cpu"]["loaded"] == [expected] and sorted(variants) == report["cpu"]["installed_variants"]
    assert f"path: /usr/lib64/ollama/libggml-cpu-{expected}.so" in "\n".join(report["server_log_tail"])
    assert [g["package"] for g in report["gpu"]] == ["ollama-ggml-vulkan"] and report["gpu"][0]["loads"]
    # The namespace's mounts stay in it.
    assert Path("/usr/lib64/ollama").exists() == had_libdir
    assert "ollama-debuginfo" not in report["packages"]


@pytest.mark.slow
@pytest.mark.skipif(not all(shutil.which(t) for t in ("rpmbuild", "go", "cmake", "unshare")),
                    reason="needs rpmbuild, go, cmake and unshare")
def test_fixture_without_cpu_packages_cannot_generate(fixture_rpms):
    main = [r for r in fixture_rpms["rpms"] if r.name.startswith(f"ollama-{VERSION}")]
    proc = run_cli("smoke", "--engine", "rootfs", *main)
    assert proc.returncode == 1
    assert re.search(r"generate\s+FAIL\s+/api/generate answered 500: .*no CPU backend found", proc.stdout), proc.stdout
    assert re.search(r"cpu variant\s+FAIL\s+could not tell which libggml-cpu-\*\.so was loaded", proc.stdout)
    assert "server log (last lines):\n" in proc.stdout and "  (no CPU backend found)" in proc.stdout



# ---- ldd -r on every shipped ELF file (real gcc, real ldd) --------------------------

CAN_LINK = bool(shutil.which("gcc") and shutil.which("ldd"))


def _cc(out, source, *flags):
    src = Path(str(out) + ".c")
    src.write_text(source)
    proc = subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(out), str(src), *map(str, flags)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    src.unlink()
    return Path(out)


def broken_tree(root):
    """A library directory as a package ships it, with one good backend and three broken files.

    libggml-base.so.0: private, found through the directory Ollama puts on LD_LIBRARY_PATH;
    vulkan/libggml-vulkan.so: NEEDs it (no RPATH, as a backend loaded by llama-server);
    libneeds-gone.so: NEEDs a library that is not installed;
    libundefined.so: calls a function no library defines;
    cuda_v13/libggml-cuda.so: NEEDs libcuda.so.1 (the driver, absent here) and calls cuInit.
    """
    libdir = root / "usr/lib64/ollama"
    (libdir / "vulkan").mkdir(parents=True)
    (libdir / "cuda_v13").mkdir()
    build = root / "build"
    build.mkdir()
    _cc(libdir / "libggml-base.so.0", "int ggml_base(void) { return 1; }\n", "-Wl,-soname,libggml-base.so.0")
    _cc(libdir / "vulkan/libggml-vulkan.so", "#include <math.h>\nint ggml_base(void);\n"
        "double vk(double x) { return ggml_base() + sqrt(x); }\n", f"-L{libdir}", "-l:libggml-base.so.0", "-lm")
    _cc(build / "libgone.so", "int gone(void) { return 2; }\n", "-Wl,-soname,libgone.so")
    _cc(libdir / "libneeds-gone.so", "int gone(void);\nint f(void) { return gone(); }\n", f"-L{build}", "-lgone")
    _cc(libdir / "libundefined.so", "int nowhere_defined(void);\nint g(void) { return nowhere_defined(); }\n")
    _cc(build / "libcuda.so.1", "int cuInit(unsigned f) { return (int)f; }\n", "-Wl,-soname,libcuda.so.1")
    _cc(libdir / "cuda_v13/libggml-cuda.so", "int cuInit(unsigned);\nint h(void) { return cuInit(0); }\n",
        f"-L{build}", "-l:libcuda.so.1")
    shutil.rmtree(build)
    (libdir / "libggml-base.so").symlink_to("libggml-base.so.0")
    return libdir


@pytest.mark.skipif(not CAN_LINK, reason="needs gcc and ldd")
def test_ldd_finds_a_missing_library_and_an_undefined_symbol_and_excuses_only_the_gpu_driver(tmp_path):
    from ollama_rpm.check.smoke_session import resolve_shipped_elves
    libdir = broken_tree(tmp_path)
    shown = {str(p.relative_to(tmp_path)): p for p in sorted(libdir.rglob("*"))}
    files = [["/" + rel, str(path)] for rel, path in shown.items()] + [["/usr/share/doc/x", str(tmp_path / "none")]]
    elves = resolve_shipped_elves({"libdir": str(libdir), "files": files})
    # Symlinks and directories are not checked twice; each ELF file once, by its package path.
    assert sorted(elves) == ["/usr/lib64/ollama/cuda_v13/libggml-cuda.so", "/usr/lib64/ollama/libggml-base.so.0",
                             "/usr/lib64/ollama/libneeds-gone.so", "/usr/lib64/ollama/libundefined.so",
                             "/usr/lib64/ollama/vulkan/libggml-vulkan.so"]
    vulkan = elves["/usr/lib64/ollama/vulkan/libggml-vulkan.so"]
    assert list(vulkan["private"]) == ["libggml-base.so.0"] and "libm.so.6" in vulkan["system"]
    assert vulkan["missing"] == [] and vulkan["undefined"] == []
    assert elves["/usr/lib64/ollama/libneeds-gone.so"]["missing"] == ["libgone.so"]
    assert elves["/usr/lib64/ollama/libundefined.so"]["undefined"] == ["nowhere_defined"]
    cuda = elves["/usr/lib64/ollama/cuda_v13/libggml-cuda.so"]
    assert cuda["missing"] == ["libcuda.so.1"] and cuda["undefined"] == ["cuInit"]

    gpu = {"ollama-ggml-vulkan": "/usr/lib64/ollama/vulkan/libggml-vulkan.so",
           "ollama-ggml-cuda": "/usr/lib64/ollama/cuda_v13/libggml-cuda.so"}
    checks, report = _judged(_result("haswell", elf=elves), _layout(gpu=gpu))
    assert checks["libraries"] == ("FAIL", "2 of 5 ELF files do not resolve: /usr/lib64/ollama/libneeds-gone.so: "
                                           "libgone.so not found, undefined symbol gone; "
                                           "/usr/lib64/ollama/libundefined.so: "
                                           "undefined symbol nowhere_defined")
    assert not report.ok
    assert checks["resolve ollama-ggml-vulkan"][0] == "ok"
    assert re.fullmatch(r"system: (\S+, )*libc\.so\.6, (\S+, )*libm\.so\.6(, \S+)*; private: libggml-base\.so\.0",
                        checks["resolve ollama-ggml-vulkan"][1])
    assert checks["resolve ollama-ggml-cuda"] == ("ok", "system: -; private: -; absent driver: libcuda.so.1")
    # Without the two broken files everything resolves: the driver alone is excused.
    good = {path: entry for path, entry in elves.items() if "gone" not in path and "undefined" not in path}
    checks, report = _judged(_result("haswell", elf=good), _layout(gpu=gpu))
    assert checks["libraries"] == ("ok", "ldd -r resolves every library and symbol of the 3 ELF files; "
                                         "libcuda.so.1 absent (the GPU driver's, not packaged)")
    assert report.ok
    # The driver excuses only its own symbols.
    worse = dict(good, **{"/usr/lib64/ollama/cuda_v13/libggml-cuda.so": dict(cuda, undefined=["cuInit", "cublasCreate_v2"])})
    checks, _ = _judged(_result("haswell", elf=worse), _layout(gpu=gpu))
    assert checks["libraries"][0] == "FAIL" and "undefined symbol cublasCreate_v2" in checks["libraries"][1]
    assert "cuInit" not in checks["libraries"][1]


BROKEN_SPEC = STUB_SPEC.replace("Source0:        ollama\n", "Source0:        ollama\nSource1:        libbroken.so\n").replace(
    "%files\n", "install -D -m 0755 %{{SOURCE1}} %{{buildroot}}/usr/lib64/ollama/libbroken.so\n\n%files\n"
    "/usr/lib64/ollama/libbroken.so\n")


@pytest.mark.slow  # rpmbuild
@pytest.mark.skipif(not CAN_BUILD or not CAN_LINK, reason="needs rpmbuild, rpm, unshare, gcc and ldd")
def test_smoke_fails_on_a_shipped_library_with_an_unresolved_symbol(tmp_path):
    src = tmp_path / "stub" / "src"
    src.mkdir(parents=True)
    (src / "ollama").write_text("#!/bin/sh\nexit 3\n")
    _cc(src / "libbroken.so", "#include <stdio.h>\nint nowhere_defined(void);\n"
        "int g(void) { puts(\"g\"); return nowhere_defined(); }\n")
    (src / "ollama.spec").write_text(BROKEN_SPEC.format(version=VERSION))
    top = tmp_path / "stub" / "top"
    proc = subprocess.run(["rpmbuild", "--nodeps", "--load", str(STANDIN_MACROS), "--define", f"_topdir {top}",
                           "--define", f"_sourcedir {src}", "--define", "__brp_strip %{nil}", "-bb",
                           str(src / "ollama.spec")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = run_cli("smoke", "--engine", "rootfs", "--json", top / "RPMS")
    report = json.loads(proc.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert proc.returncode == 1
    assert checks["libraries"] == {"name": "libraries", "status": "FAIL", "detail": (
        "1 of 1 ELF files do not resolve: /usr/lib64/ollama/libbroken.so: undefined symbol nowhere_defined")}
    assert report["elf"]["/usr/lib64/ollama/libbroken.so"]["system"]["libc.so.6"].startswith("/")


def test_the_server_must_not_complain_about_the_mlx_runner_it_does_not_ship(tmp_path):
    from ollama_rpm.check.smoke_session import Session
    session = Session({"workdir": str(tmp_path), "ollama": "/usr/bin/ollama", "libdir": "/usr/lib64/ollama"})
    session.log_path = tmp_path / "server.log"
    session.trace.mkdir()
    quiet = 'time=2026-12-06T10:00:00Z level=DEBUG source=dynamic.go:30 msg="MLX dynamic library loaded"\n'
    loud = ('time=2026-12-06T10:00:01Z level=ERROR source=dynamic.go:34 msg="failed to load MLX dynamic library: '
            'path=/usr/lib64/ollama/mlx_cuda_v13/libmlxc.so"\n')
    session.log_path.write_text(quiet)
    session.collect()
    checks, _ = _judged(dict(_result("haswell"), server_log_mlx=session.result["server_log_mlx"]))
    assert checks["mlx quiet"][0] == "ok"
    session.log_path.write_text(quiet + loud)
    session.collect()
    checks, report = _judged(dict(_result("haswell"), server_log_mlx=session.result["server_log_mlx"]))
    assert checks["mlx quiet"] == ("FAIL", "the server logged about the MLX runner (not packaged): " + loud.strip())
    assert not report.ok
