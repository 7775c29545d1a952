"""Host threads for NumPy batches (matfunc._threads): one BLAS thread per small matrix, the batch across a pool.

Speed is a benchmark's business (``python -m matfunc.bench.threads``); these tests hold what must
not change: the results (bit for bit), the user's BLAS setting after every call (also failed and concurrent
ones), and the rules for when the pool is used.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading

import numpy as np
import pytest

import matfunc
from matfunc import _threads

threadpoolctl = pytest.importorskip("threadpoolctl")

from conftest import spd as _spd  # noqa: E402


def spd(n, *, batch=(), cond=10.0, seed=0):
    return _spd(n, cond, batch=batch, seed=seed)[0]


def _blas_threads() -> list[int]:
    """Threads of the BLAS libraries loaded when matfunc first looked (NumPy's among them), read live."""
    return [lib.num_threads for lib in _threads._controller().lib_controllers]


@pytest.fixture(autouse=True)
def _threads_of_earlier_tests(monkeypatch):
    """Threads left alive by earlier tests (Dask's idle scheduler pool, ...) would keep matfunc from limiting
    BLAS in every test below: count only the threads started during the test, as a fresh process would."""
    earlier, alone = set(threading.enumerate()), _threads.alone

    def alone_since_the_test_began():
        me = threading.current_thread()
        own = _threads._own_threads()
        fresh = me is threading.main_thread() and all(t in earlier or t in own for t in threading.enumerate())
        return alone() or fresh

    monkeypatch.setattr(_threads, "alone", alone_since_the_test_began)


@pytest.fixture
def two_workers(monkeypatch):
    """Pretend BLAS has two threads (CI machines may have one core), and record the pools used."""
    if _threads._controller() is None:
        pytest.skip("no BLAS library found by threadpoolctl")
    used = []
    monkeypatch.setattr(_threads, "blas_threads", lambda: 2)
    monkeypatch.setattr(_threads.os, "cpu_count", lambda: 2)
    pool = _threads._pool

    def spy(workers):
        used.append(workers)
        return pool(workers)

    monkeypatch.setattr(_threads, "_pool", spy)
    return used


@pytest.mark.parametrize("method", ["eig", "newton-schulz", "pade"])
@pytest.mark.parametrize("inverse", [False, True])
def test_pool_gives_the_same_bits(two_workers, monkeypatch, method, inverse):
    a = spd(32, batch=(3, 50), cond=100.0, seed=1)  # 150 x 32^3 > MIN_WORK: the pool is used
    fn = matfunc.inv_sqrtm if inverse else matfunc.sqrtm
    pooled = fn(a, method=method)
    y, vjp = (matfunc.inv_sqrtm_vjp if inverse else matfunc.sqrtm_vjp)(a, method=method)
    g = np.random.default_rng(2).standard_normal(a.shape)
    pooled_grad = vjp(g)
    assert two_workers, "the pool was not used"
    monkeypatch.setattr(_threads, "blas_threads", lambda: 1)  # one worker: a plain loop over the blocks
    n_used = len(two_workers)
    serial = fn(a, method=method)
    y1, vjp1 = (matfunc.inv_sqrtm_vjp if inverse else matfunc.sqrtm_vjp)(a, method=method)
    assert len(two_workers) == n_used
    np.testing.assert_array_equal(pooled, serial)
    np.testing.assert_array_equal(y, y1)
    np.testing.assert_array_equal(pooled_grad, vjp1(g))


@pytest.mark.parametrize("name", ["powm", "logm", "expm"])
def test_spectral_functions_pool_the_batch_with_one_blas_thread(two_workers, monkeypatch, name):
    """powm/logm/expm ("eig") on NumPy follow sqrtm's thread plan (measured on a busy 2-core machine: 4000 x
    32x32 powm 0.42 s against 2.2 s for NumPy's multithreaded batched eigh); same bits as the serial loop."""
    a = spd(32, batch=(3, 50), cond=100.0, seed=1)
    fn = {"powm": lambda x: matfunc.powm(x, -0.25), "logm": matfunc.logm, "expm": matfunc.expm}[name]
    seen = []
    limit = _threads.single_blas

    @contextlib.contextmanager
    def spy():
        with limit() as limited:
            seen.append((limited, _blas_threads()))
            yield limited

    monkeypatch.setattr(_threads, "single_blas", spy)
    pooled = fn(a)
    assert two_workers == [2], "the batch was not split over the worker threads"
    assert seen and seen[0][0] and set(seen[0][1]) == {1}, seen
    monkeypatch.setattr(_threads, "blas_threads", lambda: 1)
    np.testing.assert_array_equal(pooled, fn(a))


def test_small_work_single_matrices_and_other_backends_use_no_pool(two_workers):
    matfunc.sqrtm(spd(8, batch=(4,), seed=0))  # 4 x 8^3 < MIN_WORK
    matfunc.sqrtm(spd(32, seed=0))  # one matrix: BLAS keeps its threads
    assert two_workers == []
    matfunc.sqrtm(spd(32, batch=(64,), seed=0))
    assert two_workers == [2]


def test_blas_setting_restored_after_calls_errors_and_threads():
    if _threads._controller() is None:
        pytest.skip("no BLAS library found by threadpoolctl")
    before = _blas_threads()
    a = spd(32, batch=(64,), seed=0)
    matfunc.sqrtm(a)
    assert _blas_threads() == before
    bad = a.copy()
    bad[3] = np.eye(32) - 2.0 / 32  # eigenvalue -1, positive diagonal: the result check raises, in the plan
    with pytest.raises(ValueError, match=r"\(3,\)"):
        matfunc.sqrtm(bad)
    assert _blas_threads() == before
    seen, results = [], []

    def call():  # from other threads: BLAS is left alone, the results are right
        seen.append(_blas_threads())
        results.append(matfunc.inv_sqrtm(a))

    workers = [threading.Thread(target=call) for _ in range(4)]
    with _threads.single_blas():
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        assert _blas_threads() == [1] * len(before)
    assert seen == [[1] * len(before)] * 4
    for r in results:
        np.testing.assert_array_equal(r, results[0])
    assert _blas_threads() == before
    assert _threads._state["depth"] == 0


def test_a_users_limit_is_respected(monkeypatch):
    if _threads._controller() is None:
        pytest.skip("no BLAS library found by threadpoolctl")
    used = []
    monkeypatch.setattr(_threads, "_pool", lambda w: used.append(w))
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        matfunc.sqrtm(spd(32, batch=(64,), seed=0))
        assert _blas_threads() and set(_blas_threads()) == {1}
    assert used == []


def test_without_threadpoolctl_nothing_changes():
    code = (
        "import sys; sys.modules['threadpoolctl'] = None\n"
        "import numpy as np, matfunc\n"
        "from matfunc import _threads\n"
        "a = np.stack([np.eye(16) * (i + 1) for i in range(300)])\n"
        "y = matfunc.sqrtm(a)\n"
        "assert _threads._controller() is None\n"
        "assert np.allclose(y[5], np.sqrt(6) * np.eye(16))\n"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_import_does_not_load_threadpoolctl():
    code = "import sys, matfunc; print('threadpoolctl' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_split_rows():
    assert _threads.split_rows(100, None, 1) is None
    assert _threads.split_rows(100, None, 2) == 50
    assert _threads.split_rows(101, None, 2) == 51
    assert _threads.split_rows(100, 16, 2) == 16
    assert _threads.split_rows(100, 80, 2) == 50


def test_thread_benchmark_runs_and_restores_the_fixes():
    from matfunc.bench import threads as bench_threads
    from matfunc.core import blocking

    _threads._controller()  # found once (as any earlier call would): the state compared below is the settled one
    state = dict(_threads._state)
    rows = bench_threads.run(
        [("numpy", "auto", 8, 16, "float64"), ("numpy", "newton-schulz", 8, 16, "float64")], rounds=1
    )
    assert [sorted(r["times"]) for r in rows] == [
        ["matfunc after", "matfunc before", "plain eigh root"],
        ["matfunc after", "matfunc before"],
    ]
    assert all(t[0] > 0 and t[1] >= 0 for r in rows for t in r["times"].values())
    assert "| numpy `auto` 8 x 16x16 float64 |" in bench_threads.table(rows)
    assert blocking.MIN_N == 8 and _threads._state == state  # "before" was measured inside a restored context


_FORK_CHILD = """
import multiprocessing as mp, sys
import numpy as np
import matfunc
from matfunc import _threads

_threads.blas_threads = lambda: 2  # a pooled call even where BLAS has one thread (CI)
_threads.os.cpu_count = lambda: 2
rng = np.random.default_rng(0)
q = np.linalg.qr(rng.standard_normal((64, 32, 32)))[0]
a = q @ (np.linspace(1.0, 10.0, 32)[:, None] * q.mT)
y = matfunc.sqrtm(a)
assert _threads._pools, "the parent did not use the pool"

def child(out):
    out.put(float(np.abs(matfunc.sqrtm(a) - y).max()))

if __name__ == "__main__":
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    p = ctx.Process(target=child, args=(out,))
    p.start()
    p.join(timeout=float(sys.argv[1]))
    if p.is_alive():
        p.kill()
        print("hung")
    else:
        print("ok", p.exitcode, out.get(timeout=5))
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="fork is POSIX")
def test_a_forked_child_does_not_hang_on_the_parents_pool(tmp_path):
    """Issue 25 item 9: a ``fork``ed child (multiprocessing, DataLoader workers) of a process that used the
    pool inherits executors whose threads do not exist there; it must make its own."""
    if _threads._controller() is None:
        pytest.skip("no BLAS library found by threadpoolctl")
    script = tmp_path / "fork_child.py"
    script.write_text(_FORK_CHILD)
    out = subprocess.run([sys.executable, str(script), "30"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    words = out.stdout.split()
    assert words[:2] == ["ok", "0"], out.stdout + out.stderr
    assert float(words[2]) == 0.0  # the child's pooled result is the parent's, bit for bit


@pytest.fixture
def users_blas():
    """The user's BLAS setting, at least 2 threads (also on 1-core CI), made the way an environment variable or
    a bare ``openblas_set_num_threads`` would (no threadpoolctl ownership), restored afterwards."""
    if _threads._controller() is None:
        pytest.skip("no BLAS library found by threadpoolctl")
    libs = _threads._controller().lib_controllers
    before = _blas_threads()
    if min(before) < 2:
        for lib in libs:
            getattr(lib, "_real_set_num_threads", lib.set_num_threads)(2)
        if min(_blas_threads()) < 2:
            pytest.skip("BLAS cannot run 2 threads here")
    yield _blas_threads()
    for lib, n in zip(libs, before, strict=True):
        getattr(lib, "_real_set_num_threads", lib.set_num_threads)(n)


@pytest.mark.parametrize("order", ["enters inside, leaves after", "enters before, leaves inside"])
def test_another_threads_limit_does_not_leave_blas_changed(users_blas, monkeypatch, order):
    """Issue 25 item 10: BLAS's thread count is process-wide. A thread that enters its own threadpool_limits and
    leaves it while a matfunc call is running, or just after it (scikit-learn's KMeans does that on its own
    thread), restores what it found on entering while matfunc restores what *it* found: with the two
    interleaved, one of them puts back the other's temporary value, and the process stays on it for good."""
    monkeypatch.setattr(_threads, "blas_threads", lambda: 2)
    monkeypatch.setattr(_threads.os, "cpu_count", lambda: 2)
    go_in, is_in, go_out, is_out = (threading.Event() for _ in range(4))
    inside = order.startswith("enters inside")

    def other():  # scikit-learn's pattern, on another thread
        go_in.wait(30)
        with threadpoolctl.threadpool_limits(1, user_api="blas"):
            is_in.set()
            go_out.wait(30)
        is_out.set()

    split_rows, hooked = _threads.split_rows, []

    def inside_the_call(*args):  # runs inside matfunc's thread plan (in every version of it)
        if not hooked:
            hooked.append(True)
            (go_in if inside else go_out).set()
            assert (is_in if inside else is_out).wait(30)
        return split_rows(*args)

    monkeypatch.setattr(_threads, "split_rows", inside_the_call)
    t = threading.Thread(target=other)
    t.start()
    try:
        if not inside:
            go_in.set()
            assert is_in.wait(30)
        a = spd(32, batch=(64,), seed=0)
        y = matfunc.sqrtm(a)
    finally:
        go_in.set()
        go_out.set()
        t.join(30)
    assert hooked and is_out.is_set()
    assert _blas_threads() == users_blas, f"BLAS left at {_blas_threads()}, the user's setting is {users_blas}"
    np.testing.assert_allclose(y @ y, a, rtol=0, atol=64 * np.finfo(a.dtype).eps * np.abs(a).max())
    assert _threads._state["depth"] == 0


def test_blas_is_limited_only_when_no_other_thread_runs(two_workers):
    a = spd(32, batch=(64,), seed=0)
    assert _threads.alone()
    matfunc.sqrtm(a)
    assert two_workers == [2]  # alone: BLAS on one thread, the batch on the pool
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, args=(30,))
    t.start()
    try:
        assert not _threads.alone()
        with _threads.single_blas() as limited:
            inside = _blas_threads()
        y = matfunc.sqrtm(a)
    finally:
        stop.set()
        t.join()
    assert not limited and inside == _blas_threads()  # another thread alive: BLAS left as the user set it
    assert two_workers == [2]  # ... and no pool (its workers would each run BLAS's threads)
    np.testing.assert_array_equal(y, matfunc.sqrtm(a))


def test_after_a_call_other_threads_can_limit_blas(users_blas, two_workers):
    """matfunc's limit is released completely (threadpoolctl's ownership of OpenBLAS included): a later
    threadpool_limits on another thread takes effect there, and is undone when it leaves."""
    matfunc.sqrtm(spd(32, batch=(64,), seed=0))
    assert two_workers == [2]
    seen = []

    def other():
        with threadpoolctl.threadpool_limits(1, user_api="blas"):
            seen.append(_blas_threads())

    t = threading.Thread(target=other)
    t.start()
    t.join(30)
    assert seen == [[1] * len(users_blas)]
    assert _blas_threads() == users_blas


# --- PyTorch CPU eigh through NumPy's LAPACK (matfunc.backends.torch._eigh) ----------------------------------


@pytest.fixture
def host_eigh_calls(monkeypatch):
    """Record what ``_threads.host_eigh`` answered for each torch ``eigh`` (None: torch's own ``eigh`` ran)."""
    calls = []
    real = _threads.host_eigh

    def spy(x, **kw):
        out = real(x, **kw)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(_threads, "host_eigh", spy)
    return calls


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128"])
def test_torch_cpu_eigh_runs_on_one_blas_thread_per_matrix(two_workers, host_eigh_calls, dtype):
    """torch 2.13's batched CPU eigh spreads every small matrix over all of MKL's threads (1024 x 32x32 float32:
    340 ms vs 37 ms this way, `python -m matfunc.bench.vs_eigh`); matfunc hands the batch to NumPy's LAPACK on
    one BLAS thread per worker. The results are those of torch's eigh to rounding; BLAS's and torch's thread
    settings are as they were."""
    torch = pytest.importorskip("torch")
    from matfunc.backends import torch as glue

    a = torch.as_tensor(spd(32, batch=(150,), cond=100.0, seed=3)).to(getattr(torch, dtype))
    if a.is_complex():
        b = torch.randn(a.shape, dtype=a.real.dtype, generator=torch.Generator().manual_seed(0))
        a = a + 1e-4j * (b - b.mT)  # i (B - B^T) is Hermitian: positive definite still
    before, threads = _blas_threads(), torch.get_num_threads()
    w, v = glue._eigh(a)
    assert host_eigh_calls == [True] and two_workers == [2]
    assert (w.dtype, v.dtype, w.shape, v.shape) == (a.real.dtype, a.dtype, a.shape[:-1], a.shape)
    w0, _ = torch.linalg.eigh(a)
    eps = torch.finfo(w.dtype).eps
    assert float((w - w0).abs().max()) <= 32 * eps * float(w0.abs().max())
    recon = (v * w.to(v.dtype)[..., None, :]) @ v.mH
    assert float((recon - a).abs().max()) <= 32 * eps * float(w0.abs().max())
    assert _blas_threads() == before and torch.get_num_threads() == threads
    y = matfunc.sqrtm(a)  # the public call takes the same route
    assert host_eigh_calls[-1] is True
    assert float((y @ y - a).abs().max()) <= 1e3 * eps * float(w0.abs().max())


def test_torch_eigh_stays_in_torch_where_numpy_cannot_see(two_workers, host_eigh_calls, monkeypatch):
    """Autograd recording, torch.func transforms, one large matrix, torch.set_num_threads(1), other Python threads
    alive and NaN input (torch's own error or result) all keep torch's eigh."""
    torch = pytest.importorskip("torch")
    from matfunc.backends import torch as glue

    a = torch.as_tensor(spd(32, batch=(150,), cond=100.0, seed=4))
    leaf = a.clone().requires_grad_(True)
    w, v = glue._eigh(leaf)  # autograd records through torch's eigh
    assert w.grad_fn is not None and host_eigh_calls == []
    torch.func.vmap(glue._eigh)(a)  # functorch-wrapped tensors
    assert host_eigh_calls == []
    glue._eigh(torch.as_tensor(spd(600, seed=0)))  # one matrix above MAX_N: MKL's threads pay there
    assert host_eigh_calls == [False]
    threads, calls = torch.get_num_threads(), len(host_eigh_calls)
    torch.set_num_threads(1)
    try:
        glue._eigh(a)  # the user's one thread: nothing to run in parallel, torch's eigh is the faster there
    finally:
        torch.set_num_threads(threads)
    assert len(host_eigh_calls) == calls and two_workers == []
    glue._eigh(a)
    assert host_eigh_calls[-1] is True
    monkeypatch.setattr(_threads, "alone", lambda: False)  # BLAS cannot be held to one thread
    glue._eigh(a)
    assert host_eigh_calls[-1] is False
    monkeypatch.undo()
    nan = a.clone()
    nan[7, 0, 0] = float("nan")
    try:
        expected = glue._lapack_eigh(nan)  # torch's own eigh, as the glue calls it (the upper triangle of a^H)
    except RuntimeError as err:
        with pytest.raises(type(err)):
            glue._eigh(nan)
    else:
        # the NaN reaches its matrix's eigenvalues and no other matrix (which triangle LAPACK reads decides how
        # many of them: NumPy's and torch's own "L" make one NaN eigenvalue, "U" of a^H all)
        others = torch.arange(a.shape[0]) != 7
        for w, v in (glue._eigh(nan), expected):
            assert bool(w[7].isnan().any())
            assert bool(torch.isfinite(w[others]).all()) and bool(torch.isfinite(v[others]).all())


@pytest.mark.parametrize("name", ["powm", "logm", "expm"])
def test_spectral_vjps_pool_the_batch_with_the_same_bits(two_workers, monkeypatch, name):
    """powm_vjp/logm_vjp/expm_vjp ("eig") on NumPy: the forward and the VJP run the batch's blocks in the
    worker threads (before, one BLAS thread and no pool: 1.3-1.5x the plain eigh code's time); same bits."""
    a = spd(32, batch=(3, 50), cond=100.0, seed=1)
    g = np.random.default_rng(5).standard_normal(a.shape)
    fn = {"powm": lambda x: matfunc.powm_vjp(x, -0.25), "logm": matfunc.logm_vjp, "expm": matfunc.expm_vjp}[name]
    y, back = fn(a)
    da = back(g)
    assert two_workers == [2, 2]
    monkeypatch.setattr(_threads, "blas_threads", lambda: 1)
    y1, back1 = fn(a)
    np.testing.assert_array_equal(y, y1)
    np.testing.assert_array_equal(da, back1(g))
